// Tekton's CloudEvents (pkg/reconciler/events/cloudevent/cloudevent.go): event types chosen from the Succeeded
// condition, the attributes Tekton sets, and the payload `{"taskRun": …}` / `{"pipelineRun": …}` converted to
// tekton.dev/v1beta1 (pkg/apis/pipeline/v1beta1/*_conversion.go ConvertFrom), the layout consumers of Tekton's
// events (and the fixture in ../shared/fixtures/tekton/) expect: results become status.taskResults /
// status.pipelineResults, steps carry `resources` (v1's computeResources), PipelineRuns keep childReferences.

import { randomUUID } from 'node:crypto';
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
