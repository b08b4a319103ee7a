// Loading Tekton YAML with positions. Each document keeps its YAML tree so that any field path can be mapped back to
// `file:line:col`, including paths inside embedded specs (a PipelineRun's pipelineSpec, a pipeline task's taskSpec).
// Parsing follows Kubernetes (sigs.k8s.io/yaml, i.e. YAML 1.1 scalars: `yes`/`no`/`on`/`off` are booleans, so a
// `value: yes` is rejected exactly as kubectl rejects it), except that timestamps stay strings.

import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseAllDocuments, visit, type Document, type Node } from 'yaml';
import { VouchError, errorMessage } from '../common/errors.ts';
import { convertToV1 } from './convert.ts';
import { ProblemList, formatPath, type FieldPath } from './problems.ts';
import { API_V1, API_V1BETA1, type Task, type TektonKind, type TektonResource } from './types.ts';

export interface Position {
  line: number;
  col: number;
}

/** One Tekton object read from YAML, converted to tekton.dev/v1, with the means to point back into the file. */
export interface Loaded<T extends TektonResource = TektonResource> {
  kind: T['kind'];
  /** the object as tekton.dev/v1 (v1beta1 input is converted; see convert.ts) */
  resource: T;
  /** the file as given to the loader (relative paths stay relative, so messages stay short) */
  file: string;
  /** 0-based index of the document in a multi-document file */
  index: number;
  /** the apiVersion as written (tekton.dev/v1 or tekton.dev/v1beta1) */
  sourceApiVersion: string;
  /** "file:line:col" of a field path of `resource`; a path that does not exist points at its deepest existing parent */
  locate(path: FieldPath): string;
  /** line/column (1-based) of a field path, as for locate */
  position(path: FieldPath): Position;
}

const KINDS: ReadonlySet<string> = new Set<TektonKind>(['Task', 'Pipeline', 'TaskRun', 'PipelineRun']);

/** Reads a multi-document YAML file; throws TEKTON_INVALID naming file:line:col for syntax errors or unknown kinds. */
export async function loadFile(path: string): Promise<Loaded[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new VouchError('IO', `cannot read ${path}: ${errorMessage(err)}`, { cause: err });
  }
  return loadText(text, path);
}

/** Parses YAML text as if read from `file` (used for files, stdin and tests). Empty documents are skipped. */
export function loadText(text: string, file: string): Loaded[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, {
    lineCounter,
    version: '1.1',
    // Kubernetes keeps timestamps as strings in JSON; YAML 1.1's timestamp tag would turn them into Dates.
    customTags: (tags) => tags.filter((t) => typeof t === 'object' && t.tag !== 'tag:yaml.org,2002:timestamp'),
    uniqueKeys: true,
    prettyErrors: false,
  });
  const problems = new ProblemList();
  const at = (offset: number): { file: string; line: number; col: number } => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  if (!Array.isArray(docs)) {
    // parseAllDocuments returns an EmptyStream for empty input
    return [];
  }
  const out: Loaded[] = [];
  docs.forEach((doc, index) => {
    for (const e of doc.errors) problems.add(at(e.pos[0]), [], `YAML: ${e.message.split('\n')[0] ?? e.message}`);
    if (doc.errors.length > 0) return;
    // an empty document (between `---` separators, or only comments)
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return;
    clipAtEndOfInput(doc, text);
    let raw: unknown;
    try {
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // e.g. an alias bomb ("Excessive alias count")
      problems.add(at(doc.contents.range[0]), [], `YAML: ${errorMessage(err)}`);
      return;
    }
    const root = doc.contents.range;
    const docAt = at(root[0]);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      problems.add(docAt, [], 'expected a Kubernetes object (a mapping with apiVersion, kind, metadata, spec)');
      return;
    }
    const obj = raw as Record<string, unknown>;
    const locator = makeLocator(doc, lineCounter, file);
    const apiVersion = obj['apiVersion'];
    const kind = obj['kind'];
    if (apiVersion !== API_V1 && apiVersion !== API_V1BETA1) {
      problems.add(locator.where(['apiVersion']), ['apiVersion'], `expected ${API_V1} (or ${API_V1BETA1}), got ${JSON.stringify(apiVersion ?? null)}`);
      return;
    }
    if (typeof kind !== 'string' || !KINDS.has(kind)) {
      problems.add(locator.where(['kind']), ['kind'], `expected one of ${[...KINDS].join(', ')}, got ${JSON.stringify(kind ?? null)}`);
      return;
    }
    const aliases = new Map<string, FieldPath>();
    if (apiVersion === API_V1BETA1) {
      convertToV1(obj, kind as TektonKind, aliases, (path, message) => {
        problems.add(locator.where(resolveAlias(aliases, path)), path, message);
      });
    }
    const position = (path: FieldPath): Position => {
      const w = locator.where(resolveAlias(aliases, path));
      return { line: w.line, col: w.col };
    };
    out.push({
      kind: kind as TektonKind,
      resource: obj as unknown as TektonResource,
      file,
      index,
      sourceApiVersion: apiVersion,
      position,
      locate: (path) => {
        const p = position(path);
        return `${file}:${p.line}:${p.col}`;
      },
    });
  });
  problems.throwIfAny();
  return out;
}

/**
 * Loads every Task in `dir/*.yaml` and `dir/*.yml` (not recursive), keyed by metadata.name, as taskRef resolution
 * needs. Documents of other kinds are skipped (a tasks directory may hold examples). Two Tasks with one name are an
 * error naming both places.
 */
export async function loadTasksDir(dir: string): Promise<Map<string, Loaded<Task>>> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort();
  } catch (err) {
    throw new VouchError('IO', `cannot read tasks directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const tasks = new Map<string, Loaded<Task>>();
  const problems = new ProblemList();
  const errors: VouchError[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let loaded: Loaded[];
    try {
      loaded = await loadFile(path);
    } catch (err) {
      if (err instanceof VouchError && err.code === 'TEKTON_INVALID') {
        errors.push(err);
        continue;
      }
      throw err;
    }
    for (const l of loaded) {
      if (l.kind !== 'Task') continue;
      const task = l as Loaded<Task>;
      const taskName = task.resource.metadata?.name;
      if (typeof taskName !== 'string' || taskName === '') {
        const p = task.position(['metadata', 'name']);
        problems.add({ file: task.file, ...p }, ['metadata', 'name'], 'a Task in a tasks directory needs metadata.name (taskRef resolves by name)');
        continue;
      }
      const existing = tasks.get(taskName);
      if (existing) {
        const p = task.position(['metadata', 'name']);
        problems.add({ file: task.file, ...p }, ['metadata', 'name'], `Task "${taskName}" is also defined at ${existing.locate(['metadata', 'name'])}`);
        continue;
      }
      tasks.set(taskName, task);
    }
  }
  for (const e of errors) {
    const listed = (e.details?.['problems'] ?? []) as ProblemList['items'];
    problems.items.push(...listed);
  }
  problems.throwIfAny();
  return tasks;
}

/** Relative path for messages when a caller holds absolute paths. */
export function displayPath(path: string, cwd = process.cwd()): string {
  const r = relative(cwd, path);
  return r.startsWith('..') ? path : r;
}

function resolveAlias(aliases: Map<string, FieldPath>, path: FieldPath): FieldPath {
  if (aliases.size === 0) return path;
  for (let i = path.length; i > 0; i--) {
    const alias = aliases.get(formatPath(path.slice(0, i)));
    if (alias) return [...alias, ...path.slice(i)];
  }
  return path;
}

export interface Locator {
  where(path: FieldPath): { file: string; line: number; col: number };
}

/**
 * A block scalar with the default (clip) chomping that runs into the end of the input without a line break: the
 * `yaml` package gives it a final "\n", Go's YAML (kubectl, sigs.k8s.io/yaml, so what Tekton and Chains see) does
 * not. Implementations differ here (YAML 1.2.2 rule [165] allows both); we follow the cluster, so a script at the
 * end of a file is the same string locally and on a cluster (Chains' e2e expectations record Go's reading).
 */
function clipAtEndOfInput(doc: Document, text: string): void {
  visit(doc, {
    Scalar(_key, node) {
      if ((node.type !== 'BLOCK_LITERAL' && node.type !== 'BLOCK_FOLDED') || typeof node.value !== 'string' || !node.range) return;
      const [start, valueEnd] = node.range;
      const lineEnd = text.indexOf('\n', start);
      const header = text.slice(start, lineEnd === -1 ? valueEnd : lineEnd).split('#')[0]!;
      const clip = !header.includes('+') && !header.includes('-');
      if (clip && valueEnd === text.length && !text.endsWith('\n') && node.value.endsWith('\n')) node.value = node.value.slice(0, -1);
    },
  });
}

/** Maps a field path of a parsed document to file:line:col (also used for the Triggers objects, triggers.ts). */
export function makeLocator(doc: Document, lineCounter: LineCounter, file: string): Locator {
  return {
    where(path) {
      let node: unknown = doc.contents;
      let offset = (doc.contents)?.range?.[0] ?? 0;
      for (const seg of path) {
        if (typeof seg === 'number' && isSeq(node)) {
          const item: unknown = node.items[seg];
          if (item === undefined || item === null) break;
          node = item;
          offset = (item as Node).range?.[0] ?? offset;
        } else if (typeof seg === 'string' && isMap(node)) {
          const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === seg);
          if (!pair) break;
          // point at the key: "unknown field" and "wrong type" both read best there
          offset = (pair.key as Node).range?.[0] ?? offset;
          node = pair.value;
        } else {
          break;
        }
      }
      const p = lineCounter.linePos(offset);
      return { file, line: p.line, col: p.col };
    },
  };
}
