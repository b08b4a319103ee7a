// Tekton's CloudEvents (pkg/reconciler/events/cloudevent/cloudevent.go): event types chosen from the Succeeded
// condition, the attributes Tekton sets, and the payload `{"taskRun": …}` / `{"pipelineRun": …}` converted to
// tekton.dev/v1beta1 (pkg/apis/pipeline/v1beta1/*_conversion.go ConvertFrom), the layout consumers of Tekton's
// events (and the fixture in ../shared/fixtures/tekton/) expect: results become status.taskResults /
// status.pipelineResults, steps carry `resources` (v1's computeResources), PipelineRuns keep childReferences.

import { randomUUID } from 'node:crypto';
import { VouchError } from '../common/errors.ts';
import type { Condition, PipelineRun, PipelineSpec, Step, TaskRun, TaskSpec } from './types.ts';

export const TektonEventType = {
  taskRunQueued: 'dev.tekton.event.taskrun.queued.v1',
  taskRunStarted: 'dev.tekton.event.taskrun.started.v1',
  taskRunRunning: 'dev.tekton.event.taskrun.running.v1',
  taskRunUnknown: 'dev.tekton.event.taskrun.unknown.v1',
  taskRunSuccessful: 'dev.tekton.event.taskrun.successful.v1',
  taskRunFailed: 'dev.tekton.event.taskrun.failed.v1',
  pipelineRunQueued: 'dev.tekton.event.pipelinerun.queued.v1',
  pipelineRunStarted: 'dev.tekton.event.pipelinerun.started.v1',
  pipelineRunRunning: 'dev.tekton.event.pipelinerun.running.v1',
  pipelineRunUnknown: 'dev.tekton.event.pipelinerun.unknown.v1',
  pipelineRunSuccessful: 'dev.tekton.event.pipelinerun.successful.v1',
  pipelineRunFailed: 'dev.tekton.event.pipelinerun.failed.v1',
} as const;
export type TektonEventType = (typeof TektonEventType)[keyof typeof TektonEventType];

function succeeded(conditions: readonly Condition[] | undefined): Condition | undefined {
  return conditions?.find((c) => c.type === 'Succeeded');
}

/**
 * The event type for a run's current state, as getEventType does: no Succeeded condition -> queued; Unknown with
 * reason Started -> started, Running -> running, otherwise unknown; True -> successful; False -> failed (cancelled
 * and timed-out runs are failed).
 */
export function eventTypeFor(run: TaskRun | PipelineRun): TektonEventType {
  const tr = run.kind === 'TaskRun';
  const c = succeeded(run.status?.conditions);
  if (!c) return tr ? TektonEventType.taskRunQueued : TektonEventType.pipelineRunQueued;
  if (c.status === 'True') return tr ? TektonEventType.taskRunSuccessful : TektonEventType.pipelineRunSuccessful;
  if (c.status === 'False') return tr ? TektonEventType.taskRunFailed : TektonEventType.pipelineRunFailed;
  if (c.reason === 'Started') return tr ? TektonEventType.taskRunStarted : TektonEventType.pipelineRunStarted;
  if (c.reason === 'Running') return tr ? TektonEventType.taskRunRunning : TektonEventType.pipelineRunRunning;
  return tr ? TektonEventType.taskRunUnknown : TektonEventType.pipelineRunUnknown;
}

export interface TektonEventAttributes {
  specversion: '1.0';
  /** a fresh UUID per send, as Tekton's uuid.New() */
  id: string;
  type: TektonEventType;
  /** `/apis/<group>/<version>/namespaces/<ns>/<Kind>/<name>` (see eventAttributes) */
  source: string;
  /** the object's name only */
  subject: string;
  /** when the event was made (Tekton's client uses cloudevents.WithTimeNow()) */
  time: string;
  datacontenttype: 'application/json';
}

/**
 * The attributes Tekton sets on an event. Tekton builds `source` from the object's group, version and Kind when
 * selfLink is empty (always, since Kubernetes 1.20), but the objects its events controller gets from informers carry
 * no TypeMeta, so a cluster sends `/apis///namespaces/<ns>//<name>`: that is the default here, to be
 * indistinguishable. `withTypeMeta: true` gives `/apis/tekton.dev/v1/namespaces/<ns>/TaskRun/<name>`. Consumers
 * must not rely on source (../shared/notes/tekton-chains.md); subject is the name only.
 */
export function eventAttributes(run: TaskRun | PipelineRun, options: { type?: TektonEventType; withTypeMeta?: boolean } = {}): TektonEventAttributes {
  const type = options.type ?? eventTypeFor(run);
  let group = '';
  let version = '';
  let kind = '';
  if (options.withTypeMeta) {
    const slash = run.apiVersion.indexOf('/');
    group = slash < 0 ? '' : run.apiVersion.slice(0, slash);
    version = slash < 0 ? run.apiVersion : run.apiVersion.slice(slash + 1);
    kind = run.kind;
  }
  const source = `/apis/${group}/${version}/namespaces/${run.metadata.namespace ?? ''}/${kind}/${run.metadata.name ?? ''}`;
  return { specversion: '1.0', id: randomUUID(), type, source, subject: run.metadata.name ?? '', time: new Date().toISOString(), datacontenttype: 'application/json' };
}

/** The event data: `{"taskRun": <v1beta1 TaskRun>}` or `{"pipelineRun": <v1beta1 PipelineRun>}`. */
export function eventData(run: TaskRun | PipelineRun): { taskRun: Record<string, unknown> } | { pipelineRun: Record<string, unknown> } {
  return run.kind === 'TaskRun' ? { taskRun: toV1beta1TaskRun(run) } : { pipelineRun: toV1beta1PipelineRun(run) };
}

type Obj = Record<string, unknown>;

function defined(o: Obj): Obj {
  for (const k of Object.keys(o)) if (o[k] === undefined) Reflect.deleteProperty(o, k);
  return o;
}

function renameKey(o: Obj, from: string, to: string): void {
  if (from in o) {
    o[to] = o[from];
    Reflect.deleteProperty(o, from);
  }
}

// v1beta1 Step has `resources` as a non-pointer struct, so Go always writes it (`"resources": {}`).
function stepToV1beta1(s: Step): Obj {
  const out: Obj = { ...s };
  out['resources'] = out['computeResources'] ?? {};
  Reflect.deleteProperty(out, 'computeResources');
  return out;
}

function taskSpecToV1beta1(spec: TaskSpec): Obj {
  const out: Obj = structuredClone(spec) as unknown as Obj;
  out['steps'] = spec.steps.map(stepToV1beta1);
  if (spec.stepTemplate) {
    const t: Obj = { ...spec.stepTemplate };
    renameKey(t, 'computeResources', 'resources');
    out['stepTemplate'] = t;
  }
  if (spec.sidecars) {
    out['sidecars'] = spec.sidecars.map((sc) => {
      const c: Obj = { ...sc };
      renameKey(c, 'computeResources', 'resources');
      return c;
    });
  }
  return out;
}

function pipelineSpecToV1beta1(spec: PipelineSpec): Obj {
  const out: Obj = structuredClone(spec) as unknown as Obj;
  for (const list of ['tasks', 'finally'] as const) {
    const tasks = spec[list];
    if (!tasks) continue;
    out[list] = tasks.map((pt) => {
      const t: Obj = structuredClone(pt) as unknown as Obj;
      if (pt.taskSpec) t['taskSpec'] = taskSpecToV1beta1(pt.taskSpec);
      return t;
    });
  }
  return out;
}

/**
 * A v1 TaskRun as Tekton's events controller sends it: v1beta1 layout, metadata/spec/status only (the converted
 * object carries no apiVersion/kind, as in Tekton's payloads). The input is not modified.
 */
export function toV1beta1TaskRun(tr: TaskRun): Obj {
  const spec: Obj = structuredClone(tr.spec) as unknown as Obj;
  renameKey(spec, 'stepSpecs', 'stepOverrides');
  renameKey(spec, 'sidecarSpecs', 'sidecarOverrides');
  if (tr.spec.taskSpec) spec['taskSpec'] = taskSpecToV1beta1(tr.spec.taskSpec);
  const out: Obj = { metadata: structuredClone(tr.metadata), spec };
  if (tr.status) {
    const status: Obj = structuredClone(tr.status) as unknown as Obj;
    renameKey(status, 'results', 'taskResults');
    if (tr.status.taskSpec) status['taskSpec'] = taskSpecToV1beta1(tr.status.taskSpec);
    if (tr.status.retriesStatus) {
      status['retriesStatus'] = tr.status.retriesStatus.map((rs) => {
        const r: Obj = structuredClone(rs) as unknown as Obj;
        renameKey(r, 'results', 'taskResults');
        if (rs.taskSpec) r['taskSpec'] = taskSpecToV1beta1(rs.taskSpec);
        return r;
      });
    }
    out['status'] = status;
  }
  return defined(out);
}

/** A v1 PipelineRun as Tekton's events controller sends it: v1beta1 layout, metadata/spec/status only. */
export function toV1beta1PipelineRun(pr: PipelineRun): Obj {
  const spec: Obj = structuredClone(pr.spec) as unknown as Obj;
  const tmpl = pr.spec.taskRunTemplate;
  Reflect.deleteProperty(spec, 'taskRunTemplate');
  if (tmpl?.serviceAccountName !== undefined) spec['serviceAccountName'] = tmpl.serviceAccountName;
  if (tmpl?.podTemplate !== undefined) spec['podTemplate'] = tmpl.podTemplate;
  if (pr.spec.pipelineSpec) spec['pipelineSpec'] = pipelineSpecToV1beta1(pr.spec.pipelineSpec);
  if (pr.spec.taskRunSpecs) {
    spec['taskRunSpecs'] = pr.spec.taskRunSpecs.map((t) => {
      const c: Obj = structuredClone(t);
      renameKey(c, 'serviceAccountName', 'taskServiceAccountName');
      renameKey(c, 'podTemplate', 'taskPodTemplate');
      renameKey(c, 'stepSpecs', 'stepOverrides');
      renameKey(c, 'sidecarSpecs', 'sidecarOverrides');
      return c;
    });
  }
  const out: Obj = { metadata: structuredClone(pr.metadata), spec };
  if (pr.status) {
    const status: Obj = structuredClone(pr.status) as unknown as Obj;
    renameKey(status, 'results', 'pipelineResults');
    if (pr.status.pipelineSpec) status['pipelineSpec'] = pipelineSpecToV1beta1(pr.status.pipelineSpec);
    out['status'] = status;
  }
  return defined(out);
}

// ---- ingest: event data back to v1 -------------------------------------------------------------------------------

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stepFromV1beta1(s: unknown): unknown {
  if (!isObj(s)) return s;
  const out: Obj = { ...s };
  const r = out['resources'];
  Reflect.deleteProperty(out, 'resources');
  // Tekton's conversion copies the struct, and Go always writes it: v1 has `computeResources: {}` when none are set
  out['computeResources'] = isObj(r) ? r : {};
  return out;
}

function taskSpecFromV1beta1(spec: unknown): unknown {
  if (!isObj(spec)) return spec;
  const out: Obj = { ...spec };
  if (Array.isArray(out['steps'])) out['steps'] = out['steps'].map(stepFromV1beta1);
  if (Array.isArray(out['sidecars'])) out['sidecars'] = out['sidecars'].map(stepFromV1beta1);
  if (isObj(out['stepTemplate'])) out['stepTemplate'] = stepFromV1beta1(out['stepTemplate']);
  return out;
}

function pipelineSpecFromV1beta1(spec: unknown): unknown {
  if (!isObj(spec)) return spec;
  const out: Obj = { ...spec };
  for (const list of ['tasks', 'finally']) {
    const tasks = out[list];
    if (!Array.isArray(tasks)) continue;
    out[list] = tasks.map((pt: unknown) => (isObj(pt) && isObj(pt['taskSpec']) ? { ...pt, taskSpec: taskSpecFromV1beta1(pt['taskSpec']) } : pt));
  }
  return out;
}

function requireRun(v: unknown, what: string): Obj {
  if (!isObj(v) || !isObj(v['metadata']) || typeof v['metadata']['name'] !== 'string' || v['metadata']['name'] === '') {
    throw new VouchError('INPUT_INVALID', `event data: ${what} must be an object with metadata.name`);
  }
  if (v['spec'] !== undefined && !isObj(v['spec'])) throw new VouchError('INPUT_INVALID', `event data: ${what}.spec must be an object`);
  if (v['status'] !== undefined && !isObj(v['status'])) throw new VouchError('INPUT_INVALID', `event data: ${what}.status must be an object`);
  return structuredClone(v);
}

/** A TaskRun from event data (v1beta1 layout) as tekton.dev/v1: the inverse of toV1beta1TaskRun. */
export function fromV1beta1TaskRun(data: unknown): TaskRun {
  const tr = requireRun(data, 'taskRun');
  const spec: Obj = isObj(tr['spec']) ? tr['spec'] : {};
  renameKey(spec, 'stepOverrides', 'stepSpecs');
  renameKey(spec, 'sidecarOverrides', 'sidecarSpecs');
  Reflect.deleteProperty(spec, 'resources'); // PipelineResources of old Tekton versions: gone in v1
  if (spec['taskSpec'] !== undefined) spec['taskSpec'] = taskSpecFromV1beta1(spec['taskSpec']);
  const out: Obj = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: tr['metadata'], spec };
  if (isObj(tr['status'])) {
    const status: Obj = tr['status'];
    renameKey(status, 'taskResults', 'results');
    if (status['taskSpec'] !== undefined) status['taskSpec'] = taskSpecFromV1beta1(status['taskSpec']);
    if (Array.isArray(status['retriesStatus'])) {
      status['retriesStatus'] = status['retriesStatus'].map((rs: unknown) => {
        if (!isObj(rs)) return rs;
        const r: Obj = { ...rs };
        renameKey(r, 'taskResults', 'results');
        if (r['taskSpec'] !== undefined) r['taskSpec'] = taskSpecFromV1beta1(r['taskSpec']);
        return r;
      });
    }
    out['status'] = status;
  }
  return out as unknown as TaskRun;
}

/** A PipelineRun from event data (v1beta1 layout) as tekton.dev/v1: the inverse of toV1beta1PipelineRun. */
export function fromV1beta1PipelineRun(data: unknown): PipelineRun {
  const pr = requireRun(data, 'pipelineRun');
  const spec: Obj = isObj(pr['spec']) ? pr['spec'] : {};
  const tmpl: Obj = {};
  if ('serviceAccountName' in spec) tmpl['serviceAccountName'] = spec['serviceAccountName'];
  if ('podTemplate' in spec) tmpl['podTemplate'] = spec['podTemplate'];
  Reflect.deleteProperty(spec, 'serviceAccountName');
  Reflect.deleteProperty(spec, 'podTemplate');
  if (Object.keys(tmpl).length > 0) spec['taskRunTemplate'] = tmpl;
  if ('timeout' in spec) {
    // the deprecated v1beta1 spec.timeout is timeouts.pipeline in v1
    const timeouts: Obj = isObj(spec['timeouts']) ? spec['timeouts'] : {};
    timeouts['pipeline'] ??= spec['timeout'];
    spec['timeouts'] = timeouts;
    Reflect.deleteProperty(spec, 'timeout');
  }
  Reflect.deleteProperty(spec, 'resources');
  if (spec['pipelineSpec'] !== undefined) spec['pipelineSpec'] = pipelineSpecFromV1beta1(spec['pipelineSpec']);
  if (Array.isArray(spec['taskRunSpecs'])) {
    spec['taskRunSpecs'] = spec['taskRunSpecs'].map((t: unknown) => {
      if (!isObj(t)) return t;
      const c: Obj = { ...t };
      renameKey(c, 'taskServiceAccountName', 'serviceAccountName');
      renameKey(c, 'taskPodTemplate', 'podTemplate');
      renameKey(c, 'stepOverrides', 'stepSpecs');
      renameKey(c, 'sidecarOverrides', 'sidecarSpecs');
      return c;
    });
  }
  const out: Obj = { apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: pr['metadata'], spec };
  if (isObj(pr['status'])) {
    const status: Obj = pr['status'];
    renameKey(status, 'pipelineResults', 'results');
    if (status['pipelineSpec'] !== undefined) status['pipelineSpec'] = pipelineSpecFromV1beta1(status['pipelineSpec']);
    out['status'] = status;
  }
  return out as unknown as PipelineRun;
}

/**
 * Reads the data of a Tekton CloudEvent (`{"taskRun": …}` or `{"pipelineRun": …}`, v1beta1 layout) as a v1 object.
 * The data is untrusted: anything else is INPUT_INVALID. Only the shape needed to read it is checked; callers treat
 * it as a hint and re-read the object from its source of truth.
 */
export function parseEventData(data: unknown): TaskRun | PipelineRun {
  if (!isObj(data)) throw new VouchError('INPUT_INVALID', 'event data: expected a JSON object {"taskRun": …} or {"pipelineRun": …}');
  const keys = Object.keys(data);
  if (keys.length === 1 && keys[0] === 'taskRun') return fromV1beta1TaskRun(data['taskRun']);
  if (keys.length === 1 && keys[0] === 'pipelineRun') return fromV1beta1PipelineRun(data['pipelineRun']);
  throw new VouchError('INPUT_INVALID', `event data: expected exactly one of taskRun, pipelineRun; got ${keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : 'no key'}`);
}
