// Tekton Triggers (triggers.tekton.dev/v1beta1) as the EventListener's sink interprets them, for `vouch listen`:
// EventListener -> for each trigger: interceptors (github, cel) -> TriggerBindings -> TriggerTemplate -> resources.
// The objects are the ones a cluster applies (pipelines/triggers/), loaded strictly (unknown fields are errors, with
// file:line:col), and checked against each other before any event arrives: refs resolve, every template param
// without a default is bound, every $(tt.params.X) is declared.
//
// Where we differ from Tekton's sink on purpose (docs/cluster.md):
// - the github interceptor checks the signature before the event type, accepts only X-Hub-Signature-256 (not the
//   SHA-1 X-Hub-Signature) and a refused signature is an HTTP 401/403 here (Tekton answers 202 and drops it);
// - only the core interceptors github and cel run; CEL runs with @bufbuild/cel's standard library (Tekton's own
//   extensions such as header.match() or truncate() are not available: a filter that uses them fails closed).

import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isCelError, run as runCel, type CelInput } from '@bufbuild/cel';
import { LineCounter, parseAllDocuments } from 'yaml';
import { VouchError, errorMessage } from '../common/errors.ts';
import { makeLocator, type Locator } from './load.ts';
import { ProblemList, type FieldPath } from './problems.ts';
import { checkStructure, pruneNulls, type Schema } from './schema.ts';

export const TRIGGERS_API = 'triggers.tekton.dev/v1beta1';

export interface InterceptorParam {
  name: string;
  /** any JSON value (Triggers' interceptor params are JSON, unlike Pipeline params) */
  value: unknown;
}
export interface TriggerInterceptor {
  name?: string;
  ref: { name: string; kind?: string; apiVersion?: string };
  params?: InterceptorParam[];
}
export interface TriggerSpecBinding {
  /** a TriggerBinding by name, or (with name/value) one param given inline */
  ref?: string;
  kind?: string;
  apiVersion?: string;
  name?: string;
  value?: string;
}
export interface TriggerTemplateParam {
  name: string;
  description?: string;
  default?: string;
}
export interface TriggerTemplateSpec {
  params?: TriggerTemplateParam[];
  resourcetemplates?: Record<string, unknown>[];
}
export interface EventListenerTrigger {
  name?: string;
  interceptors?: TriggerInterceptor[];
  bindings?: TriggerSpecBinding[];
  template?: { ref?: string; apiVersion?: string; spec?: TriggerTemplateSpec };
}
interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface EventListener {
  apiVersion: typeof TRIGGERS_API;
  kind: 'EventListener';
  metadata: Meta;
  spec: { serviceAccountName?: string; triggers?: EventListenerTrigger[] };
}
export interface TriggerBinding {
  apiVersion: typeof TRIGGERS_API;
  kind: 'TriggerBinding';
  metadata: Meta;
  spec: { params?: { name: string; value: string }[] };
}
export interface TriggerTemplate {
  apiVersion: typeof TRIGGERS_API;
  kind: 'TriggerTemplate';
  metadata: Meta;
  spec: TriggerTemplateSpec;
}

/** Every Triggers object of a directory, by kind and name, checked against each other. */
export interface TriggerSet {
  listeners: Map<string, EventListener>;
  bindings: Map<string, TriggerBinding>;
  templates: Map<string, TriggerTemplate>;
}

const str = 'string';
const meta: Schema = { obj: { name: str, namespace: str, labels: 'stringMap', annotations: 'stringMap', generateName: str, uid: str, resourceVersion: str, generation: 'int', creationTimestamp: str }, required: ['name'] };
const ttParam: Schema = { obj: { name: str, description: str, default: str }, required: ['name'] };
const ttSpec: Schema = { obj: { params: { arr: ttParam }, resourcetemplates: { arr: 'object' } } };
const interceptor: Schema = {
  obj: { name: str, ref: { obj: { name: str, kind: str, apiVersion: str }, required: ['name'] }, params: { arr: 'object' } },
  required: ['ref'],
};
const trigger: Schema = {
  obj: {
    name: str,
    interceptors: { arr: interceptor },
    bindings: { arr: { obj: { ref: str, kind: str, apiVersion: str, name: str, value: str } } },
    template: { obj: { ref: str, apiVersion: str, spec: ttSpec } },
    triggerRef: str,
    serviceAccountName: str,
  },
};
const SCHEMAS: Readonly<Record<string, Schema>> = {
  EventListener: {
    obj: {
      apiVersion: str,
      kind: str,
      metadata: meta,
      spec: {
        obj: { serviceAccountName: str, triggers: { arr: trigger }, triggerGroups: { arr: 'object' }, cloudEventURI: str, namespaceSelector: 'object', labelSelector: 'object', resources: 'object' },
      },
    },
    required: ['metadata', 'spec'],
  },
  TriggerBinding: {
    obj: { apiVersion: str, kind: str, metadata: meta, spec: { obj: { params: { arr: { obj: { name: str, value: str }, required: ['name', 'value'] } } } } },
    required: ['metadata', 'spec'],
  },
  TriggerTemplate: { obj: { apiVersion: str, kind: str, metadata: meta, spec: ttSpec }, required: ['metadata', 'spec'] },
};

/** The interceptors this interpreter runs (Tekton's core ClusterInterceptors of those names). */
const KNOWN_INTERCEPTORS = new Set(['github', 'cel']);

interface Located {
  resource: EventListener | TriggerBinding | TriggerTemplate;
  locator: Locator;
}

/**
 * Loads every triggers.tekton.dev/v1beta1 object in `dir/*.yaml` (other kinds, e.g. the ServiceAccount beside them,
 * are skipped) and checks them. Throws TEKTON_INVALID listing every problem with file:line:col.
 */
export async function loadTriggersDir(dir: string): Promise<TriggerSet> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort();
  } catch (err) {
    throw new VouchError('IO', `cannot read triggers directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const located: Located[] = [];
  const problems = new ProblemList();
  for (const n of names) {
    const file = join(dir, n);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new VouchError('IO', `cannot read ${file}: ${errorMessage(err)}`, { cause: err });
    }
    located.push(...parseTriggersText(text, file, problems));
  }
  problems.throwIfAny();
  return checkTriggerSet(located);
}

/** Parses one file's documents (YAML 1.1 as Kubernetes reads it); Triggers objects are structure-checked. */
export function parseTriggersText(text: string, file: string, problems: ProblemList): Located[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, version: '1.1', uniqueKeys: true, prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  const out: Located[] = [];
  for (const doc of docs) {
    for (const e of doc.errors) {
      const p = lineCounter.linePos(e.pos[0]);
      problems.add({ file, line: p.line, col: p.col }, [], `YAML: ${e.message.split('\n')[0] ?? e.message}`);
    }
    if (doc.errors.length > 0 || doc.contents === null) continue;
    const raw: unknown = doc.toJS({ maxAliasCount: 100 });
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    const obj = raw as Record<string, unknown>;
    const apiVersion = obj['apiVersion'];
    if (typeof apiVersion !== 'string' || !apiVersion.startsWith('triggers.tekton.dev/')) continue;
    const locator = makeLocator(doc, lineCounter, file);
    const kind = obj['kind'];
    if (apiVersion !== TRIGGERS_API) {
      problems.add(locator.where(['apiVersion']), ['apiVersion'], `expected ${TRIGGERS_API}, got ${JSON.stringify(apiVersion)}`);
      continue;
    }
    const schema = typeof kind === 'string' ? SCHEMAS[kind] : undefined;
    if (!schema) {
      problems.add(locator.where(['kind']), ['kind'], `expected one of ${Object.keys(SCHEMAS).join(', ')}, got ${JSON.stringify(kind ?? null)}`);
      continue;
    }
    pruneNulls(obj);
    const before = problems.items.length;
    checkStructure(obj, schema, [], (path, message) => {
      problems.add(locator.where(path), path, message);
    });
    if (problems.items.length === before) out.push({ resource: obj as unknown as Located['resource'], locator });
  }
  return out;
}

function checkTriggerSet(located: Located[]): TriggerSet {
  const problems = new ProblemList();
  const set: TriggerSet = { listeners: new Map(), bindings: new Map(), templates: new Map() };
  const where = new Map<object, Locator>();
  for (const { resource, locator } of located) {
    where.set(resource, locator);
    const into = (resource.kind === 'EventListener' ? set.listeners : resource.kind === 'TriggerBinding' ? set.bindings : set.templates) as Map<string, typeof resource>;
    if (into.has(resource.metadata.name)) problems.add(locator.where(['metadata', 'name']), ['metadata', 'name'], `a second ${resource.kind} named "${resource.metadata.name}"`);
    into.set(resource.metadata.name, resource);
  }
  for (const tt of set.templates.values()) checkTemplate(tt.spec, [], where.get(tt)!, problems);
  for (const el of set.listeners.values()) {
    const at = where.get(el)!;
    (el.spec.triggers ?? []).forEach((t, i) => {
      const path: FieldPath = ['spec', 'triggers', i];
      const report = (p: FieldPath, message: string): void => {
        problems.add(at.where([...path, ...p]), [...path, ...p], message);
      };
      if (t.template === undefined) report([], 'a trigger needs a template (ref or spec); triggerRef is not supported locally');
      (t.interceptors ?? []).forEach((ic, j) => {
        checkInterceptor(ic, (p, m) => {
          report(['interceptors', j, ...p], m);
        });
      });
      const bound = new Set<string>();
      (t.bindings ?? []).forEach((b, j) => {
        if (b.ref !== undefined) {
          if (b.kind !== undefined && b.kind !== 'TriggerBinding') report(['bindings', j, 'kind'], `only namespaced TriggerBindings are supported, got ${b.kind}`);
          const tb = set.bindings.get(b.ref);
          if (!tb) report(['bindings', j, 'ref'], `no TriggerBinding named "${b.ref}"`);
          for (const p of tb?.spec.params ?? []) bound.add(p.name);
        } else if (b.name !== undefined && b.value !== undefined) bound.add(b.name);
        else report(['bindings', j], 'a binding needs ref, or name and value');
      });
      let spec: TriggerTemplateSpec | undefined;
      if (t.template?.ref !== undefined) {
        spec = set.templates.get(t.template.ref)?.spec;
        if (!spec) report(['template', 'ref'], `no TriggerTemplate named "${t.template.ref}"`);
      } else if (t.template?.spec !== undefined) {
        spec = t.template.spec;
        checkTemplate(spec, [...path, 'template', 'spec'], at, problems);
      }
      for (const p of spec?.params ?? []) {
        if (p.default === undefined && !bound.has(p.name)) report(['bindings'], `the template's param "${p.name}" has no default and no binding gives it`);
      }
    });
  }
  problems.throwIfAny();
  return set;
}

function checkTemplate(spec: TriggerTemplateSpec, path: FieldPath, at: Locator, problems: ProblemList): void {
  const declared = new Set((spec.params ?? []).map((p) => p.name));
  (spec.resourcetemplates ?? []).forEach((rt, i) => {
    forEachString(rt, [...path, 'spec', 'resourcetemplates', i], (s, p) => {
      for (const m of s.matchAll(TT_PARAM)) {
        if (!declared.has(m[1]!)) problems.add(at.where(p), p, `$(tt.params.${m[1]!}): the TriggerTemplate declares no param "${m[1]!}"`);
      }
    });
  });
}

function checkInterceptor(ic: TriggerInterceptor, report: (path: FieldPath, message: string) => void): void {
  if (ic.ref.kind !== undefined && ic.ref.kind !== 'ClusterInterceptor') report(['ref', 'kind'], `only the core ClusterInterceptors are supported locally, got kind ${ic.ref.kind}`);
  if (!KNOWN_INTERCEPTORS.has(ic.ref.name)) report(['ref', 'name'], `interceptor "${ic.ref.name}" is not supported locally (supported: ${[...KNOWN_INTERCEPTORS].join(', ')})`);
  (ic.params ?? []).forEach((p, k) => {
    if (typeof p.name !== 'string' || !('value' in p)) report(['params', k], 'an interceptor param needs name and value');
  });
  const param = (name: string): unknown => ic.params?.find((p) => p.name === name)?.value;
  if (ic.ref.name === 'github') {
    const secretRef = param('secretRef');
    if (secretRef !== undefined && !isSecretRef(secretRef)) report(['params'], 'secretRef must be {secretName: string, secretKey: string}');
    const eventTypes = param('eventTypes');
    if (eventTypes !== undefined && !(Array.isArray(eventTypes) && eventTypes.every((e) => typeof e === 'string'))) report(['params'], 'eventTypes must be a list of strings');
    for (const p of ic.params ?? []) if (!['secretRef', 'eventTypes'].includes(p.name)) report(['params'], `github interceptor param "${p.name}" is not supported locally`);
  }
  if (ic.ref.name === 'cel') {
    for (const p of ic.params ?? []) {
      if (p.name === 'filter' && typeof p.value !== 'string') report(['params'], 'filter must be a CEL expression (string)');
      else if (p.name === 'overlays' && !(Array.isArray(p.value) && p.value.every((o) => isRecord(o) && typeof o['key'] === 'string' && typeof o['expression'] === 'string'))) report(['params'], 'overlays must be a list of {key, expression}');
      else if (p.name !== 'filter' && p.name !== 'overlays') report(['params'], `cel interceptor param "${p.name}" is not supported`);
    }
  }
}

// ---- processing an event ----

/** An HTTP delivery as the sink saw it. Header names in any case. */
export interface TriggerEvent {
  headers: Record<string, string | string[] | undefined>;
  /** the raw body: the signature is over these exact bytes */
  body: Buffer;
  requestURL: string;
  eventID?: string;
}

/** Resolves a Kubernetes Secret reference to its value; undefined when there is no such secret. */
export type SecretResolver = (secretName: string, secretKey: string) => string | undefined;

export type TriggerOutcome =
  | { trigger: string; fired: true; resources: Record<string, unknown>[] }
  /** `denied`: authentication failed (401 no signature, 403 bad signature); `filtered`: an interceptor said no */
  | { trigger: string; fired: false; why: 'unauthenticated' | 'forbidden' | 'filtered'; reason: string };

interface Payload {
  body: unknown;
  header: Map<string, string[]>;
  extensions: Record<string, unknown>;
  requestURL: string;
  eventID: string;
}

/**
 * Runs every trigger of the EventListener against one delivery. Throws INPUT_INVALID for a body that is not JSON,
 * and TRIGGER_FAILED when a fired trigger's binding or template cannot be resolved (nothing is returned for it then).
 */
export function processEvent(set: TriggerSet, listenerName: string, event: TriggerEvent, secrets: SecretResolver): TriggerOutcome[] {
  const el = set.listeners.get(listenerName);
  if (!el) throw new VouchError('USAGE', `no EventListener named "${listenerName}" (found: ${[...set.listeners.keys()].join(', ') || 'none'})`);
  let body: unknown;
  try {
    body = JSON.parse(event.body.toString('utf8'));
  } catch (err) {
    throw new VouchError('INPUT_INVALID', `the event body is not JSON: ${errorMessage(err)}`);
  }
  const header = canonicalHeaders(event.headers);
  const eventID = event.eventID ?? randomUUID();
  return (el.spec.triggers ?? []).map((t, i) => {
    const name = t.name ?? `trigger-${String(i)}`;
    const payload: Payload = { body, header, extensions: {}, requestURL: event.requestURL, eventID };
    for (const ic of t.interceptors ?? []) {
      const refusal = ic.ref.name === 'github' ? githubInterceptor(ic, event.body, header, secrets) : celInterceptor(ic, payload);
      if (refusal) return { trigger: name, fired: false, ...refusal };
    }
    const params = bindParams(set, t, payload);
    const spec = t.template?.ref !== undefined ? set.templates.get(t.template.ref)!.spec : t.template!.spec!;
    return { trigger: name, fired: true, resources: renderTemplate(spec, params) };
  });
}

type Refusal = { why: 'unauthenticated' | 'forbidden' | 'filtered'; reason: string } | undefined;

function githubInterceptor(ic: TriggerInterceptor, raw: Buffer, header: Map<string, string[]>, secrets: SecretResolver): Refusal {
  const param = (name: string): unknown => ic.params?.find((p) => p.name === name)?.value;
  const secretRef = param('secretRef');
  // authenticate first: an unsigned sender learns nothing about which events would be accepted
  if (isSecretRef(secretRef)) {
    const secret = secrets(secretRef.secretName, secretRef.secretKey);
    if (secret === undefined || secret === '') {
      throw new VouchError('CONFIG_INVALID', `the webhook secret ${secretRef.secretName}/${secretRef.secretKey} is not available`);
    }
    const given = header.get('X-Hub-Signature-256')?.[0];
    if (given === undefined) return { why: 'unauthenticated', reason: 'no X-Hub-Signature-256 header' };
    if (!signatureMatches(given, raw, secret)) return { why: 'forbidden', reason: 'X-Hub-Signature-256 does not match the payload' };
  }
  const eventTypes = param('eventTypes');
  if (Array.isArray(eventTypes)) {
    const actual = header.get('X-Github-Event')?.[0] ?? '';
    if (!eventTypes.includes(actual)) return { why: 'filtered', reason: `event type ${JSON.stringify(actual)} is not allowed` };
  }
  return undefined;
}

/** GitHub's scheme: `sha256=` + hex HMAC-SHA256 of the raw body; compared in constant time. */
export function signatureMatches(header: string, raw: Buffer, secret: string): boolean {
  const m = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(raw).digest();
  return timingSafeEqual(expected, Buffer.from(m[1]!, 'hex'));
}

export function signPayload(raw: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
}

function celInterceptor(ic: TriggerInterceptor, payload: Payload): Refusal {
  const vars = (): Record<string, CelInput> => ({
    body: toCel(payload.body),
    header: new Map([...payload.header].map(([k, v]) => [k, v])),
    extensions: toCel(payload.extensions),
    requestURL: payload.requestURL,
  });
  const filter = ic.params?.find((p) => p.name === 'filter')?.value;
  if (typeof filter === 'string') {
    const r = runCel(filter, vars());
    if (isCelError(r)) return { why: 'filtered', reason: `CEL filter ${JSON.stringify(filter)}: ${r.message}` };
    if (r !== true) return { why: 'filtered', reason: `CEL filter ${JSON.stringify(filter)} is false` };
  }
  const overlays = ic.params?.find((p) => p.name === 'overlays')?.value;
  for (const o of Array.isArray(overlays) ? (overlays as { key: string; expression: string }[]) : []) {
    const r = runCel(o.expression, vars());
    if (isCelError(r)) return { why: 'filtered', reason: `CEL overlay ${o.key}: ${r.message}` };
    setPath(payload.extensions, o.key.split('.'), fromCel(r));
  }
  return undefined;
}

const EXPR = /\$\(([^()]*)\)/g;
const TT_PARAM = /\$\(tt\.params\.([A-Za-z0-9_.-]+)\)/g;

function bindParams(set: TriggerSet, t: EventListenerTrigger, payload: Payload): Map<string, string> {
  const out = new Map<string, string>();
  for (const b of t.bindings ?? []) {
    const params = b.ref !== undefined ? (set.bindings.get(b.ref)?.spec.params ?? []) : [{ name: b.name!, value: b.value! }];
    for (const p of params) out.set(p.name, resolveBindingValue(p.value, payload, p.name));
  }
  return out;
}

/** `$(body.a.b[0])`, `$(header.Name)`, `$(extensions.x)`, `$(context.eventID)`; non-strings become their JSON. */
function resolveBindingValue(value: string, payload: Payload, param: string): string {
  return value.replace(EXPR, (_whole, expr: string) => {
    const [root, ...rest] = splitPath(expr);
    let found: unknown;
    if (root === 'body') found = walk(payload.body, rest);
    else if (root === 'extensions') found = walk(payload.extensions, rest);
    else if (root === 'header') found = rest.length === 0 ? Object.fromEntries(payload.header) : payload.header.get(canonicalName(rest.join('.')))?.join(',');
    else if (root === 'context' && rest.length === 1 && rest[0] === 'eventID') found = payload.eventID;
    else if (root === 'context' && rest.length === 1 && rest[0] === 'eventURL') found = payload.requestURL;
    else throw new VouchError('TRIGGER_FAILED', `binding param ${param}: unsupported expression $(${expr})`);
    if (found === undefined) throw new VouchError('TRIGGER_FAILED', `binding param ${param}: failed to find field $(${expr}) in the event`);
    return typeof found === 'string' ? found : JSON.stringify(found);
  });
}

function renderTemplate(spec: TriggerTemplateSpec, bound: Map<string, string>): Record<string, unknown>[] {
  const values = new Map<string, string>();
  for (const p of spec.params ?? []) {
    const v = bound.get(p.name) ?? p.default;
    if (v === undefined) throw new VouchError('TRIGGER_FAILED', `the template's param "${p.name}" has no value and no default`);
    values.set(p.name, v);
  }
  const uid = randomUUID();
  // structured substitution: a value from the payload lands inside one string and can never add fields
  const substitute = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(TT_PARAM, (whole, name: string) => values.get(name) ?? whole).replaceAll('$(uid)', uid);
    if (Array.isArray(v)) return v.map(substitute);
    if (isRecord(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x)]));
    return v;
  };
  return (spec.resourcetemplates ?? []).map((rt) => substitute(structuredClone(rt)) as Record<string, unknown>);
}

// ---- helpers ----

/** Go's http.CanonicalHeaderKey: what Tekton's `header` map is keyed by (X-Github-Event, X-Hub-Signature-256). */
function canonicalName(name: string): string {
  return name
    .toLowerCase()
    .split('-')
    .map((w) => (w === '' ? w : w[0]!.toUpperCase() + w.slice(1)))
    .join('-');
}

function canonicalHeaders(headers: TriggerEvent['headers']): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out.set(canonicalName(k), Array.isArray(v) ? v : [v]);
  }
  return out;
}

function splitPath(expr: string): string[] {
  const out: string[] = [];
  for (const m of expr.trim().matchAll(/([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

function walk(v: unknown, path: readonly string[]): unknown {
  let cur = v;
  for (const seg of path) {
    if (Array.isArray(cur) && /^\d+$/.test(seg)) cur = cur[Number(seg)];
    else if (isRecord(cur) && Object.hasOwn(cur, seg)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

function setPath(into: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let cur = into;
  for (const seg of path.slice(0, -1)) {
    const next = cur[seg];
    if (!isRecord(next)) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
}

/** JSON as CEL values: objects are maps (JSON numbers are doubles, as in Tekton's CEL environment). */
function toCel(v: unknown): CelInput {
  if (Array.isArray(v)) return v.map(toCel);
  if (isRecord(v)) return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v as CelInput;
}

function fromCel(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...(v as Map<unknown, unknown>)].map(([k, x]) => [String(k), fromCel(x)]));
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'object' && v !== null && Symbol.iterator in v && typeof v !== 'string') return [...(v as Iterable<unknown>)].map(fromCel);
  return v;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isSecretRef(v: unknown): v is { secretName: string; secretKey: string } {
  return isRecord(v) && typeof v['secretName'] === 'string' && typeof v['secretKey'] === 'string';
}

function forEachString(v: unknown, path: FieldPath, f: (s: string, path: FieldPath) => void): void {
  if (typeof v === 'string') f(v, path);
  else if (Array.isArray(v)) v.forEach((x, i) => { forEachString(x, [...path, i], f); });
  else if (isRecord(v)) for (const [k, x] of Object.entries(v)) forEachString(x, [...path, k], f);
}
