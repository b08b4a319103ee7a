// The policy file `.vouch/policy.yaml` (docs/policy.md): YAML with `version: 1` and one section per concern (a
// stage, later risk rules). The loader is generic: a section is a table of fields, each with a kind, a default and
// optional checks; add a section by adding an entry to SECTIONS. Unknown keys, wrong kinds and failed checks are
// errors with file:line:col (fail closed: a typo must never fall back to a weaker default).

import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { VouchError } from '../common/errors.ts';

export const POLICY_PATH = '.vouch/policy.yaml';

export type FieldSpec =
  | { kind: 'boolean'; default: boolean; doc: string }
  | { kind: 'number'; default: number; doc: string; integer?: boolean; min?: number; max?: number }
  | { kind: 'string'; default: string; doc: string; oneOf?: readonly string[]; check?: (v: string) => string | undefined }
  | { kind: 'strings'; default: readonly string[]; doc: string; check?: (v: string) => string | undefined }
  | {
      kind: 'list';
      doc: string;
      item: Record<string, FieldSpec & { required?: boolean }>;
      /** an item field whose values must differ */
      unique?: string;
      /** an item field whose values must differ once normalized (`key` undefined: not comparable, e.g. invalid) */
      distinct?: { field: string; key: (v: unknown) => string | undefined; why: string };
      /** a list-of-strings item field whose entries, normalized by `key`, must differ across all items (and within one) */
      distinctEach?: { field: string; key: (v: string) => string; why: string };
    };

export type SectionSpec = Record<string, FieldSpec>;

interface Problem {
  at: string;
  path: string;
  message: string;
}

class Reader {
  readonly problems: Problem[] = [];
  private readonly lc: LineCounter;
  private readonly file: string;
  constructor(file: string, lc: LineCounter) {
    this.file = file;
    this.lc = lc;
  }
  at(node: YamlNode | null | undefined): string {
    const offset = node?.range?.[0];
    if (offset === undefined) return this.file;
    const p = this.lc.linePos(offset);
    return `${this.file}:${String(p.line)}:${String(p.col)}`;
  }
  problem(node: YamlNode | null | undefined, path: string, message: string): void {
    this.problems.push({ at: this.at(node), path, message });
  }
}

function readField(r: Reader, spec: FieldSpec, node: unknown, path: string): unknown {
  const n = node as YamlNode;
  if (spec.kind === 'list') {
    if (!isSeq(node)) {
      r.problem(n, path, 'must be a list');
      return [];
    }
    const seen = new Set<unknown>();
    const distinct = new Map<string, number>();
    const distinctEach = new Map<string, string>();
    return node.items.map((item, i) => {
      const itemPath = `${path}[${String(i)}]`;
      if (!isMap(item)) {
        r.problem(item as YamlNode, itemPath, 'must be a mapping');
        return {};
      }
      const value = readMap(r, spec.item, item, itemPath);
      if (spec.unique !== undefined) {
        const key = value[spec.unique];
        if (seen.has(key)) r.problem(item, `${itemPath}.${spec.unique}`, `duplicate ${spec.unique} ${JSON.stringify(key)}`);
        seen.add(key);
      }
      if (spec.distinct !== undefined) {
        const key = spec.distinct.key(value[spec.distinct.field]);
        const first = key === undefined ? undefined : distinct.get(key);
        if (first !== undefined) r.problem(item, `${itemPath}.${spec.distinct.field}`, `${spec.distinct.why} (the same as ${path}[${String(first)}])`);
        else if (key !== undefined) distinct.set(key, i);
      }
      const each = spec.distinctEach;
      const entries = each === undefined ? undefined : item.get(each.field, true);
      if (each !== undefined && isSeq(entries)) {
        entries.items.forEach((entry, j) => {
          if (!isScalar(entry) || typeof entry.value !== 'string') return;
          const entryPath = `${itemPath}.${each.field}[${String(j)}]`;
          const key = each.key(entry.value);
          const first = distinctEach.get(key);
          if (first !== undefined) r.problem(entry, entryPath, `${each.why} (the same as ${first})`);
          else distinctEach.set(key, entryPath);
        });
      }
      return value;
    });
  }
  if (spec.kind === 'strings') {
    if (!isSeq(node)) {
      r.problem(n, path, 'must be a list of strings');
      return spec.default;
    }
    return node.items.map((item, i) => {
      const itemPath = `${path}[${String(i)}]`;
      if (!isScalar(item) || typeof item.value !== 'string') {
        r.problem(item as YamlNode, itemPath, 'must be a string');
        return '';
      }
      const bad = spec.check?.(item.value);
      if (bad) r.problem(item, itemPath, bad);
      return item.value;
    });
  }
  if (!isScalar(node)) {
    r.problem(n, path, `must be a ${spec.kind}`);
    return spec.default;
  }
  const v = node.value;
  switch (spec.kind) {
    case 'boolean':
      if (typeof v !== 'boolean') r.problem(node, path, 'must be true or false');
      return v;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) r.problem(node, path, 'must be a number');
      else if (spec.integer && !Number.isInteger(v)) r.problem(node, path, 'must be an integer');
      else if (spec.min !== undefined && v < spec.min) r.problem(node, path, `must be at least ${String(spec.min)}`);
      else if (spec.max !== undefined && v > spec.max) r.problem(node, path, `must be at most ${String(spec.max)}`);
      return v;
    case 'string': {
      if (typeof v !== 'string') {
        r.problem(node, path, 'must be a string');
        return spec.default;
      }
      if (spec.oneOf && !spec.oneOf.includes(v)) r.problem(node, path, `must be one of ${spec.oneOf.join(', ')}`);
      const bad = spec.check?.(v);
      if (bad) r.problem(node, path, bad);
      return v;
    }
  }
}

function defaultOf(spec: FieldSpec): unknown {
  return spec.kind === 'list' ? [] : spec.kind === 'strings' ? [...spec.default] : spec.default;
}

function readMap(r: Reader, fields: Record<string, FieldSpec & { required?: boolean }>, map: unknown, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const seen = new Set<string>();
  if (isMap(map)) {
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      const keyPath = path ? `${path}.${key}` : key;
      const spec = fields[key];
      if (!spec) {
        r.problem(pair.key as YamlNode, keyPath, `unknown key (allowed: ${Object.keys(fields).join(', ')})`);
        continue;
      }
      if (seen.has(key)) r.problem(pair.key as YamlNode, keyPath, 'duplicate key');
      seen.add(key);
      out[key] = readField(r, spec, pair.value, keyPath);
    }
  }
  for (const [key, spec] of Object.entries(fields)) {
    if (seen.has(key)) continue;
    if (spec.required) r.problem(map as YamlNode, path ? `${path}.${key}` : key, 'is required');
    out[key] = defaultOf(spec);
  }
  return out;
}

/** Parses and checks a policy file against `sections`; throws POLICY_INVALID listing every problem. */
export function parsePolicyWith(text: string, file: string, sections: Record<string, SectionSpec>): Record<string, Record<string, unknown>> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const r = new Reader(file, lc);
  for (const e of doc.errors) {
    const p = lc.linePos(e.pos[0]);
    r.problems.push({ at: `${file}:${String(p.line)}:${String(p.col)}`, path: '', message: e.message.split('\n')[0] ?? e.message });
  }
  const out: Record<string, Record<string, unknown>> = {};
  if (r.problems.length === 0) {
    const root = doc.contents;
    if (root !== null && !isMap(root)) r.problem(root, '', 'a policy file is a mapping of sections');
    let version: unknown;
    if (isMap(root)) {
      for (const pair of root.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        if (key === 'version') {
          version = isScalar(pair.value) ? pair.value.value : undefined;
          if (version !== 1) r.problem(pair.value, 'version', 'must be 1');
          continue;
        }
        const spec = sections[key];
        if (!spec) {
          r.problem(pair.key, key, `unknown section (allowed: version, ${Object.keys(sections).join(', ')})`);
          continue;
        }
        if (pair.value !== null && !isMap(pair.value)) {
          r.problem(pair.value, key, 'a section is a mapping');
          continue;
        }
        out[key] = readMap(r, spec, pair.value, key);
      }
    }
    if (version === undefined) r.problem(root, 'version', 'is required (version: 1)');
  }
  if (r.problems.length) {
    const lines = r.problems.map((p) => `${p.at}: ${p.path ? p.path + ': ' : ''}${p.message}`);
    throw new VouchError('POLICY_INVALID', `invalid policy ${lines.join('; ')}`, { details: { file, problems: r.problems } });
  }
  for (const [name, spec] of Object.entries(sections)) out[name] ??= readMap(r, spec, null, name);
  return out;
}

/** Defaults of every section, as parsing an empty policy gives. */
export function defaultsWith(sections: Record<string, SectionSpec>): Record<string, Record<string, unknown>> {
  return parsePolicyWith('version: 1\n', 'default', sections);
}
