// Reading a CycloneDX JSON SBOM back (ours or another tool's) into the little the diff and the sca stage need:
// components with purl, version, licenses, hashes, and the dependency graph from the root.
import { readFileSync } from 'node:fs';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { validateSbomJson } from './sbom.ts';

export interface SbomComponent {
  ref: string;
  /** full package name (`@scope/name` for npm) */
  name: string;
  version: string | undefined;
  purl: string | undefined;
  /** purl type (`npm`, `pypi`, …) when there is a purl */
  purlType: string | undefined;
  /** license ids, expressions or names as written in the SBOM */
  licenses: string[];
  /** algorithm → hex */
  hashes: Record<string, string>;
}

export interface Sbom {
  source: string;
  rootRef: string | undefined;
  components: SbomComponent[];
  /** ref → refs it depends on */
  dependencies: Map<string, string[]>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(source: string, what: string): VouchError {
  return new VouchError('SBOM_INVALID', `${source}: ${what}`, { details: { source } });
}

function purlType(purl: string | undefined): string | undefined {
  const m = purl === undefined ? null : /^pkg:([a-zA-Z0-9.+-]+)\//.exec(purl);
  return m?.[1]?.toLowerCase();
}

function licensesOf(c: Obj): string[] {
  const out: string[] = [];
  if (!Array.isArray(c.licenses)) return out;
  for (const l of c.licenses as unknown[]) {
    if (!isObj(l)) continue;
    if (typeof l.expression === 'string') out.push(l.expression);
    else if (isObj(l.license)) {
      const id = l.license.id ?? l.license.name;
      if (typeof id === 'string') out.push(id);
    }
  }
  return out;
}

export function parseSbom(source: string, doc: unknown): Sbom {
  if (!isObj(doc) || doc.bomFormat !== 'CycloneDX') throw bad(source, 'not a CycloneDX JSON document');
  const components: SbomComponent[] = [];
  const seen = new Set<string>();
  const walk = (list: unknown): void => {
    if (list === undefined) return;
    if (!Array.isArray(list)) throw bad(source, '"components" must be an array');
    for (const c of list) {
      if (!isObj(c) || typeof c.name !== 'string') throw bad(source, 'a component without a name');
      const group = typeof c.group === 'string' && c.group !== '' ? c.group : undefined;
      const purl = typeof c.purl === 'string' ? c.purl : undefined;
      const ref = typeof c['bom-ref'] === 'string' ? c['bom-ref'] : (purl ?? `${group ?? ''}/${c.name}@${String(c.version)}`);
      if (seen.has(ref)) throw bad(source, `bom-ref ${ref} appears twice`);
      seen.add(ref);
      const hashes: Record<string, string> = {};
      if (Array.isArray(c.hashes)) for (const h of c.hashes as unknown[]) if (isObj(h) && typeof h.alg === 'string' && typeof h.content === 'string') hashes[h.alg] = h.content;
      const type = purlType(purl);
      components.push({
        ref,
        name: group === undefined ? c.name : type === 'npm' ? `${group}/${c.name}` : `${group}:${c.name}`,
        version: typeof c.version === 'string' ? c.version : undefined,
        purl,
        purlType: type,
        licenses: licensesOf(c),
        hashes,
      });
      walk(c.components);
    }
  };
  walk(doc.components);
  const dependencies = new Map<string, string[]>();
  if (doc.dependencies !== undefined) {
    if (!Array.isArray(doc.dependencies)) throw bad(source, '"dependencies" must be an array');
    for (const d of doc.dependencies as unknown[]) {
      if (!isObj(d) || typeof d.ref !== 'string') throw bad(source, 'a dependency entry without "ref"');
      const on = Array.isArray(d.dependsOn) ? (d.dependsOn as unknown[]).filter((x): x is string => typeof x === 'string') : [];
      dependencies.set(d.ref, on);
    }
  }
  const root = isObj(doc.metadata) && isObj(doc.metadata.component) ? doc.metadata.component['bom-ref'] : undefined;
  return { source, rootRef: typeof root === 'string' ? root : undefined, components, dependencies };
}

/** Reads an SBOM file, validating it against the CycloneDX 1.6 schema when `validate` is set. */
export async function readSbom(path: string, options: { validate?: boolean } = {}): Promise<Sbom> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VouchError('SBOM_INVALID', `${path}: cannot read the SBOM: ${errorMessage(err)}`, { cause: err, details: { source: path } });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VouchError('SBOM_INVALID', `${path}: not JSON: ${errorMessage(err)}`, { cause: err, details: { source: path } });
  }
  if (options.validate === true) await validateSbomJson(text, path);
  return parseSbom(path, doc);
}

/**
 * The shortest chain of components from the root to each component (names@versions, root excluded), so a finding can
 * say which direct dependency pulls it in. Components the root cannot reach get no path.
 */
export function dependencyPaths(sbom: Sbom): Map<string, string[]> {
  const byRef = new Map(sbom.components.map((c) => [c.ref, c]));
  const label = (ref: string): string => {
    const c = byRef.get(ref);
    return c === undefined ? ref : `${c.name}@${c.version ?? '?'}`;
  };
  const paths = new Map<string, string[]>();
  if (sbom.rootRef === undefined) return paths;
  const queue: string[] = [];
  for (const ref of sbom.dependencies.get(sbom.rootRef) ?? []) {
    if (!paths.has(ref)) {
      paths.set(ref, [label(ref)]);
      queue.push(ref);
    }
  }
  for (let i = 0; i < queue.length; i++) {
    const from = queue[i]!;
    for (const ref of sbom.dependencies.get(from) ?? []) {
      if (paths.has(ref) || ref === sbom.rootRef) continue;
      paths.set(ref, [...paths.get(from)!, label(ref)]);
      queue.push(ref);
    }
  }
  return paths;
}
