// License policy over SPDX expressions. A declared license is normalised (spdx-correct fixes "Apache 2", "GPLv3", …);
// an expression is allowed when some choice it offers uses only allowed licenses (spdx-satisfies), and denied when
// every choice it offers uses a denied license ("MIT OR GPL-3.0-only" can be taken as MIT, so denying GPL does not
// deny it).
import correct from 'spdx-correct';
import parseSpdx from 'spdx-expression-parse';
import satisfies from 'spdx-satisfies';
import { VouchError } from '../../common/errors.ts';

export interface LicensePolicy {
  /** SPDX license ids (with `+` or `WITH exception` if need be); when set, anything not allowed fails */
  allow?: string[];
  /** SPDX license ids; deny wins over allow */
  deny?: string[];
  /** a license that is missing or not SPDX: fail, or only say so (default) */
  unknown?: 'fail' | 'warn';
}

export type LicenseVerdict =
  | { status: 'allowed'; expression: string }
  | { status: 'denied'; expression: string; reason: string }
  | { status: 'unknown'; expression: string | undefined; reason: string };

type Ast = parseSpdx.Info;

/** A normalised SPDX expression, or undefined when neither it nor spdx-correct's fix parses. */
export function normaliseLicense(declared: string): string | undefined {
  const text = declared.trim();
  try {
    parseSpdx(text);
    return text;
  } catch {
    const fixed = correct(text, { upgrade: true });
    if (fixed === null) return undefined;
    try {
      parseSpdx(fixed);
      return fixed;
    } catch {
      return undefined;
    }
  }
}

function leaf(ast: parseSpdx.LicenseInfo): string {
  return `${ast.license}${ast.plus === true ? '+' : ''}${ast.exception === undefined ? '' : ` WITH ${ast.exception}`}`;
}

/** The choices an expression offers, each the licenses that must all be complied with (disjunctive normal form). */
export function choices(ast: Ast): string[][] {
  if ('license' in ast) return [[leaf(ast)]];
  const left = choices(ast.left);
  const right = choices(ast.right);
  if (ast.conjunction === 'or') return [...left, ...right];
  return left.flatMap((l) => right.map((r) => [...l, ...r]));
}

/** Checks the list entries once, so a typo in the policy is an error rather than a license that never matches. */
export function checkLicensePolicy(policy: LicensePolicy, source: string): void {
  for (const [list, entries] of [
    ['allow', policy.allow],
    ['deny', policy.deny],
  ] as const) {
    for (const entry of entries ?? []) {
      let ast: Ast;
      try {
        ast = parseSpdx(entry);
      } catch {
        throw new VouchError('SCA_POLICY_INVALID', `${source}: licenses.${list} entry ${JSON.stringify(entry)} is not an SPDX license id`, { details: { source } });
      }
      if (!('license' in ast)) throw new VouchError('SCA_POLICY_INVALID', `${source}: licenses.${list} entry ${JSON.stringify(entry)} must be one license, not an expression`, { details: { source } });
    }
  }
}

function matchesAny(license: string, list: string[]): boolean {
  try {
    return satisfies(license, list);
  } catch {
    return list.includes(license);
  }
}

/** The verdict on one component's declared licenses (several entries must all be complied with). */
export function judgeLicenses(declared: string[], policy: LicensePolicy): LicenseVerdict {
  if (declared.length === 0) return { status: 'unknown', expression: undefined, reason: 'no license declared' };
  const parts: string[] = [];
  for (const d of declared) {
    const n = normaliseLicense(d);
    if (n === undefined) return { status: 'unknown', expression: d, reason: `${JSON.stringify(d)} is not an SPDX license expression` };
    parts.push(declared.length > 1 ? `(${n})` : n);
  }
  const expression = parts.join(' AND ');
  const ast = parseSpdx(expression);
  const deny = policy.deny ?? [];
  const options = choices(ast);
  const clean = deny.length === 0 ? options : options.filter((c) => !c.some((l) => matchesAny(l, deny)));
  if (clean.length === 0) return { status: 'denied', expression, reason: `every choice uses a denied license (${deny.join(', ')})` };
  if (policy.allow !== undefined) {
    const allowed = clean.some((c) => c.every((l) => matchesAny(l, policy.allow!)));
    if (!allowed) return { status: 'denied', expression, reason: `not in the allowed licenses (${policy.allow.join(', ')})` };
  }
  return { status: 'allowed', expression };
}
