// tekton.dev/v1beta1 input, converted in place to v1 where the mapping is mechanical (as Tekton's own conversion
// webhook does, pkg/apis/pipeline/v1beta1/*_conversion.go); refused where v1 has no equivalent.
//
// Converted (v1beta1 -> v1):
//   Task/TaskRun taskSpec/embedded taskSpec: steps[].resources, stepTemplate.resources, sidecars[].resources
//     -> computeResources
//   PipelineRun: spec.serviceAccountName -> spec.taskRunTemplate.serviceAccountName, spec.podTemplate ->
//     spec.taskRunTemplate.podTemplate, spec.timeout -> spec.timeouts.pipeline, taskRunSpecs[].taskServiceAccountName
//     -> serviceAccountName, taskRunSpecs[].taskPodTemplate -> podTemplate, taskRunSpecs[].stepOverrides ->
//     stepSpecs, taskRunSpecs[].sidecarOverrides -> sidecarSpecs; embedded pipelineSpec as a Pipeline spec
//   TaskRun: spec.stepOverrides -> stepSpecs, spec.sidecarOverrides -> sidecarSpecs
//   params, results, workspaces, when, runAfter, retries, finally: identical in both versions
// Refused (with the field named): `resources` (PipelineResources, removed from Tekton), taskRef/pipelineRef `bundle`
//   (Tekton bundles need a registry; use a tasks directory), taskRef kind ClusterTask (removed in v1),
//   PipelineRun spec.serviceAccountNames (removed).
// Anything else v1beta1-only (e.g. container fields such as ports or probes on steps) is left in place and reported
// by strict validation as an unknown field of tekton.dev/v1.

import { formatPath, type FieldPath } from './problems.ts';
import { API_V1, type TektonKind } from './types.ts';

type Obj = Record<string, unknown>;
type Report = (path: FieldPath, message: string) => void;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Converts a v1beta1 object to v1 in place. `aliases` maps new v1 paths to where the value was written. */
export function convertToV1(obj: Obj, kind: TektonKind, aliases: Map<string, FieldPath>, report: Report): void {
  obj['apiVersion'] = API_V1;
  const spec = obj['spec'];
  if (!isObj(spec)) return;
  const c = new Converter(aliases, report);
  switch (kind) {
    case 'Task':
      c.taskSpec(spec, ['spec']);
      break;
    case 'Pipeline':
      c.pipelineSpec(spec, ['spec']);
      break;
    case 'PipelineRun':
      c.pipelineRunSpec(spec, ['spec']);
      break;
    case 'TaskRun':
      c.taskRunSpec(spec, ['spec']);
      break;
  }
}

class Converter {
  private readonly aliases: Map<string, FieldPath>;
  private readonly report: Report;

  constructor(aliases: Map<string, FieldPath>, report: Report) {
    this.aliases = aliases;
    this.report = report;
  }

  /** Moves o[from] to o[to] (or into a nested object `to` = [a, b]) and remembers where it came from. */
  private rename(o: Obj, at: FieldPath, from: string, to: readonly string[]): void {
    if (!(from in o)) return;
    const value = o[from];
    Reflect.deleteProperty(o, from);
    let target = o;
    for (const seg of to.slice(0, -1)) {
      const next = target[seg];
      if (isObj(next)) target = next;
      else {
        const created: Obj = {};
        target[seg] = created;
        target = created;
      }
    }
    const last = to[to.length - 1]!;
    if (last in target) {
      this.report([...at, from], `both ${from} (v1beta1) and ${to.join('.')} (v1) are set`);
      return;
    }
    target[last] = value;
    this.aliases.set(formatPath([...at, ...to]), [...at, from]);
  }

  private refuse(o: Obj, at: FieldPath, field: string, why: string): void {
    if (field in o) this.report([...at, field], why);
  }

  taskSpec(spec: Obj, at: FieldPath): void {
    this.refuse(spec, at, 'resources', 'PipelineResources were removed from Tekton; pass data with workspaces and params');
    for (const list of ['steps', 'sidecars'] as const) {
      const items = spec[list];
      if (!Array.isArray(items)) continue;
      items.forEach((s, i) => {
        if (isObj(s)) this.rename(s, [...at, list, i], 'resources', ['computeResources']);
      });
    }
    const tmpl = spec['stepTemplate'];
    if (isObj(tmpl)) this.rename(tmpl, [...at, 'stepTemplate'], 'resources', ['computeResources']);
  }

  private taskRef(ref: unknown, at: FieldPath): void {
    if (!isObj(ref)) return;
    this.refuse(ref, at, 'bundle', 'Tekton bundles are not supported by vouch; put the Task in the tasks directory and refer to it by name');
    if (ref['kind'] === 'ClusterTask') this.report([...at, 'kind'], 'ClusterTask was removed in tekton.dev/v1; use a namespaced Task');
  }

  pipelineSpec(spec: Obj, at: FieldPath): void {
    this.refuse(spec, at, 'resources', 'PipelineResources were removed from Tekton; pass data with workspaces and params');
    for (const list of ['tasks', 'finally'] as const) {
      const items = spec[list];
      if (!Array.isArray(items)) continue;
      items.forEach((pt, i) => {
        if (!isObj(pt)) return;
        const ptAt = [...at, list, i];
        this.refuse(pt, ptAt, 'resources', 'PipelineResources were removed from Tekton; pass data with workspaces and params');
        this.taskRef(pt['taskRef'], [...ptAt, 'taskRef']);
        const ts = pt['taskSpec'];
        if (isObj(ts)) this.taskSpec(ts, [...ptAt, 'taskSpec']);
      });
    }
  }

  pipelineRunSpec(spec: Obj, at: FieldPath): void {
    this.refuse(spec, at, 'resources', 'PipelineResources were removed from Tekton; pass data with workspaces and params');
    this.refuse(spec, at, 'serviceAccountNames', 'serviceAccountNames was removed; use taskRunSpecs[].serviceAccountName');
    const ref = spec['pipelineRef'];
    if (isObj(ref)) this.refuse(ref, [...at, 'pipelineRef'], 'bundle', 'Tekton bundles are not supported by vouch; refer to a Pipeline file');
    this.rename(spec, at, 'serviceAccountName', ['taskRunTemplate', 'serviceAccountName']);
    this.rename(spec, at, 'podTemplate', ['taskRunTemplate', 'podTemplate']);
    this.rename(spec, at, 'timeout', ['timeouts', 'pipeline']);
    const trs = spec['taskRunSpecs'];
    if (Array.isArray(trs)) {
      trs.forEach((t, i) => {
        if (!isObj(t)) return;
        const tAt = [...at, 'taskRunSpecs', i];
        this.rename(t, tAt, 'taskServiceAccountName', ['serviceAccountName']);
        this.rename(t, tAt, 'taskPodTemplate', ['podTemplate']);
        this.rename(t, tAt, 'stepOverrides', ['stepSpecs']);
        this.rename(t, tAt, 'sidecarOverrides', ['sidecarSpecs']);
      });
    }
    const ps = spec['pipelineSpec'];
    if (isObj(ps)) this.pipelineSpec(ps, [...at, 'pipelineSpec']);
  }

  taskRunSpec(spec: Obj, at: FieldPath): void {
    this.refuse(spec, at, 'resources', 'PipelineResources were removed from Tekton; pass data with workspaces and params');
    this.taskRef(spec['taskRef'], [...at, 'taskRef']);
    this.rename(spec, at, 'stepOverrides', ['stepSpecs']);
    this.rename(spec, at, 'sidecarOverrides', ['sidecarSpecs']);
    const ts = spec['taskSpec'];
    if (isObj(ts)) this.taskSpec(ts, [...at, 'taskSpec']);
  }
}
