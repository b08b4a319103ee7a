// vouch's own secret rules, for what secretlint's recommended preset misses (shared/notes/stage-tooling.md: an AWS
// access key id and a .env password went through), plus the policy's extra patterns. A rule finds the secret as its
// first capture group (or the whole match); only its position and length ever leave this module's callers.

import { basename } from 'node:path';
import type { SecretPattern } from '../../policy/index.ts';

export interface LineRule {
  id: string;
  description: string;
  regex: RegExp;
  /** only files whose path this accepts (default: every file and the transcript) */
  appliesTo?: (path: string) => boolean;
  /** a match that is not a secret (placeholders) */
  ignore?: (secret: string) => boolean;
}

export interface LineMatch {
  /** 1-based column of the secret's first character */
  column: number;
  secret: string;
}

const isDotenv = (path: string): boolean => /^\.env(\..+)?$|\.env$/.test(basename(path));

/** A value that only refers to a secret elsewhere, or a well-known placeholder. */
const placeholder = (v: string): boolean => v === '' || /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(v) || /^(<[^>]*>|x+|\*+|changeme|change-me|example|placeholder|todo|none|null|empty)$/i.test(v);

export const BUILTIN_RULES: readonly LineRule[] = [
  {
    id: 'vouch/aws-access-key-id',
    description: 'AWS access key id',
    regex: /(?<![A-Z0-9])((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Z0-9])/g,
  },
  {
    id: 'vouch/aws-secret-access-key',
    description: 'AWS secret access key',
    regex: /aws_?secret_?access_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/gi,
  },
  {
    id: 'vouch/private-key-block',
    description: 'private key',
    regex: /(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)/g,
  },
  {
    id: 'vouch/dotenv-secret',
    description: 'password, secret or token in a .env file',
    regex: /^\s*(?:export\s+)?[A-Za-z0-9_]*(?:PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?)[A-Za-z0-9_]*\s*=\s*["']?([^"'\s#][^"'#]*?)["']?\s*(?:#.*)?$/gi,
    appliesTo: isDotenv,
    ignore: placeholder,
  },
  {
    // the agent-run stage replaces each secret an agent emitted with this marker before storing the transcript: the
    // secret is gone, the fact that the agent emitted one must still fail the gate (transcripts only, never the diff)
    id: 'vouch/agent-run-redacted',
    description: 'secret emitted by the agent (redacted by the agent-run stage)',
    regex: /\[REDACTED:[A-Za-z0-9@/_.-]+\]/g,
    appliesTo: () => false,
  },
];

/** Rules from the policy's `secrets.patterns` (already checked to compile). */
export function policyRules(patterns: readonly SecretPattern[]): LineRule[] {
  return patterns.map((p) => ({ id: `policy/${p.id}`, description: p.description || `policy pattern ${p.id}`, regex: new RegExp(p.regex, 'g') }));
}

/** Every match of `rule` on one line. */
export function matchLine(rule: LineRule, line: string): LineMatch[] {
  const out: LineMatch[] = [];
  const re = new RegExp(rule.regex.source, rule.regex.flags.includes('g') ? rule.regex.flags : rule.regex.flags + 'g');
  for (const m of line.matchAll(re)) {
    const secret = m[1] ?? m[0];
    if (secret === '' || rule.ignore?.(secret.trim())) continue;
    const offset = m[1] === undefined ? 0 : m[0].indexOf(m[1]);
    out.push({ column: m.index + offset + 1, secret });
  }
  return out;
}
