// Tekton's variable substitution (pkg/substitution, pkg/reconciler/taskrun/resources/apply.go,
// pkg/reconciler/pipelinerun/resources/apply.go, pkg/container/*_replacements.go), reproduced pass by pass:
// - Replacement is literal and one-shot per pass: a value inserted by one pass is not re-scanned by the same pass,
//   but later passes do see it (Tekton applies params, then context, then workspaces, then results paths; so a
//   param whose value is `$(context.taskRun.name)` ends up substituted, as on a cluster).
// - Unknown `$(...)` text is left as written (validation rejects unknown Tekton variables before a run).
// - Arrays expand only where Tekton expands them: a `command`/`args` item (or an array param value item, or a when
//   `values` item) that is exactly `$(params.a[*])` (or `$(params.a)` for an array) becomes several items;
//   elsewhere a whole array or object cannot be substituted (TEKTON_SUBSTITUTION_FAILED; validation catches it first).
// - A string param value that is exactly a reference to an array/object becomes that array/object
//   (ParamValue.applyOrCorrect).

import { VouchError } from '../common/errors.ts';
import { isolated, occurrences, type Ref } from './refs.ts';
import type { EnvVar, Param, ParamSpec, ParamValue, PipelineTask, Step, StepTemplate, TaskSpec, WhenExpression } from './types.ts';

/** What a pass knows. Every field is optional: a pass replaces only the kinds of reference it has values for. */
export interface Replacements {
  /** param name -> value (already defaulted) */
  params?: Readonly<Record<string, ParamValue>>;
  /** pipeline task name -> result name -> value (`tasks.T.results.R`) */
  taskResults?: Readonly<Record<string, Readonly<Record<string, ParamValue>>>>;
  /** finally task results (`finally.T.results.R`, pipeline results only) */
  finallyResults?: Readonly<Record<string, Readonly<Record<string, ParamValue>>>>;
  /** `context.<scope>.<attr>` -> value, keyed "scope.attr", e.g. "taskRun.name" */
  context?: Readonly<Record<string, string>>;
  /** workspace name -> attributes (path, bound, claim, volume) */
  workspaces?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** directory that `$(results.R.path)` points into (Tekton: /tekton/results) */
  resultsDir?: string;
  /** directory that `$(step.results.R.path)` points into, for the step being substituted */
  stepResultsDir?: string;
  /** `tasks.T.status` / `tasks.T.reason` values (finally tasks) */
  taskStates?: Readonly<Record<string, { status: string; reason?: string }>>;
  /** `tasks.status` (finally tasks) */
  aggregateStatus?: string;
  /** directory holding `step-<name>/exitCode` for `$(steps.step-<name>.exitCode.path)` (Tekton: /tekton/steps) */
  stepsDir?: string;
  /** value of `$(credentials.path)` */
  credentialsPath?: string;
}

/** Where the value being substituted sits, for error messages. */
export type Where = string;

function fail(where: Where, text: string, why: string): never {
  throw new VouchError('TEKTON_SUBSTITUTION_FAILED', `${where}: cannot substitute ${text}: ${why}`);
}

/** Value of a reference, or undefined when this pass does not know it (the text is then left as written). */
export function lookup(ref: Ref, r: Replacements): ParamValue | undefined {
  switch (ref.kind) {
    case 'param':
      return select(r.params?.[ref.name], ref);
    case 'taskResult': {
      const table = ref.scope === 'tasks' ? r.taskResults : r.finallyResults;
      return select(table?.[ref.task]?.[ref.result], ref);
    }
    case 'context':
      return r.context?.[`${ref.scope}.${ref.attr}`];
    case 'workspace':
      return r.workspaces?.[ref.name]?.[ref.attr];
    case 'ownResult':
      return r.resultsDir === undefined ? undefined : `${r.resultsDir}/${ref.name}`;
    case 'stepResult':
      return r.stepResultsDir === undefined ? undefined : `${r.stepResultsDir}/${ref.name}`;
    case 'taskState': {
      const s = r.taskStates?.[ref.task];
      if (!s) return undefined;
      return ref.attr === 'status' ? s.status : (s.reason ?? '');
    }
    case 'aggregateStatus':
      return r.aggregateStatus;
    case 'stepExitCode':
      return r.stepsDir === undefined ? undefined : `${r.stepsDir}/${ref.container}/exitCode`;
    case 'credentials':
      return r.credentialsPath;
    case 'other':
      return undefined;
  }
}

// The value a selector picks; undefined if it does not apply (the text is then left as written). An index past the
// end of a known array is an error.
function select(value: ParamValue | undefined, ref: Extract<Ref, { sel: unknown }>): ParamValue | undefined {
  if (value === undefined) return undefined;
  const sel = ref.sel;
  switch (sel.kind) {
    case 'whole':
      return value;
    case 'star':
      return typeof value === 'string' ? undefined : value;
    case 'index':
      if (!Array.isArray(value)) return undefined;
      if (sel.index >= value.length) {
        // Tekton checks indexes against the actual arrays before it creates the TaskRun (ValidateParamArrayIndex,
        // and "array index out of bound" for results): the run fails rather than passing the text on.
        const what = ref.kind === 'param' ? `param "${ref.name}"` : `result "${ref.result}" of task "${ref.task}"`;
        throw new VouchError('TEKTON_SUBSTITUTION_FAILED', `index ${sel.index} out of bound: ${what} has ${value.length} element${value.length === 1 ? '' : 's'}`);
      }
      return value[sel.index];
    case 'key':
      return typeof value === 'object' && !Array.isArray(value) ? value[sel.key] : undefined;
  }
}

/** Substitutes references in a string field. A whole array/object in the middle of a string is an error. */
export function substituteString(s: string, r: Replacements, where: Where = 'value'): string {
  if (!s.includes('$(')) return s;
  let out = '';
  let last = 0;
  for (const occ of occurrences(s)) {
    const v = lookup(occ.ref, r);
    if (v === undefined) continue;
    if (typeof v !== 'string') fail(where, occ.text, `it is ${Array.isArray(v) ? 'an array' : 'an object'}; only a whole command/args item or param value can take it`);
    out += s.slice(last, occ.start) + v;
    last = occ.end;
  }
  return out + s.slice(last);
}

/** Substitutes one item of an array field (command, args, array values): an isolated array reference expands. */
export function substituteArrayItem(s: string, r: Replacements, where: Where = 'value'): string[] {
  const occ = isolated(s);
  if (occ) {
    const v = lookup(occ.ref, r);
    if (Array.isArray(v)) return [...v];
    if (v !== undefined && typeof v === 'object') fail(where, occ.text, 'it is an object; an array item can only take a string or an array');
  }
  return [substituteString(s, r, where)];
}

/** Substitutes a list of strings with array expansion (Tekton's ApplyArrayReplacements over each item). */
export function substituteArray(items: readonly string[] | undefined, r: Replacements, where: Where): string[] | undefined {
  if (items === undefined) return undefined;
  return items.flatMap((s, i) => substituteArrayItem(s, r, `${where}[${i}]`));
}

/** ParamValue substitution with Tekton's type correction: an isolated array/object reference changes the type. */
export function substituteParamValue(v: ParamValue, r: Replacements, where: Where = 'value'): ParamValue {
  if (Array.isArray(v)) return v.flatMap((s, i) => substituteArrayItem(s, r, `${where}[${i}]`));
  if (typeof v === 'object') {
    const out: Record<string, string> = {};
    for (const [k, s] of Object.entries(v)) out[k] = substituteString(s, r, `${where}.${k}`);
    return out;
  }
  const occ = isolated(v);
  if (occ) {
    const found = lookup(occ.ref, r);
    if (found !== undefined) return typeof found === 'string' ? found : Array.isArray(found) ? [...found] : { ...found };
    return v;
  }
  return substituteString(v, r, where);
}

export function substituteParams(params: readonly Param[] | undefined, r: Replacements, where: Where): Param[] | undefined {
  if (params === undefined) return undefined;
  return params.map((p) => ({ ...p, value: substituteParamValue(p.value, r, `${where}.${p.name}`) }));
}

export function substituteWhen(when: readonly WhenExpression[] | undefined, r: Replacements, where: Where): WhenExpression[] | undefined {
  if (when === undefined) return undefined;
  return when.map((w, i) => ({
    ...w,
    ...(w.input !== undefined ? { input: substituteString(w.input, r, `${where}[${i}].input`) } : {}),
    ...(w.values !== undefined ? { values: substituteArray(w.values, r, `${where}[${i}].values`)! } : {}),
  }));
}

function substituteEnv(env: readonly EnvVar[] | undefined, r: Replacements, where: Where): EnvVar[] | undefined {
  return env?.map((e) => (e.value === undefined ? { ...e } : { ...e, value: substituteString(e.value, r, `${where}.${e.name}`) }));
}

function str(v: string | undefined, r: Replacements, where: Where): string | undefined {
  return v === undefined ? undefined : substituteString(v, r, where);
}

function container<T extends StepTemplate & { name?: string }>(c: T, r: Replacements, where: Where): T {
  const out: T = { ...c };
  if (c.name !== undefined) out.name = substituteString(c.name, r, `${where}.name`);
  if (c.image !== undefined) out.image = substituteString(c.image, r, `${where}.image`);
  if (c.imagePullPolicy !== undefined) out.imagePullPolicy = substituteString(c.imagePullPolicy, r, `${where}.imagePullPolicy`);
  if (c.args !== undefined) out.args = substituteArray(c.args, r, `${where}.args`)!;
  if (c.command !== undefined) out.command = substituteArray(c.command, r, `${where}.command`)!;
  if (c.env !== undefined) out.env = substituteEnv(c.env, r, `${where}.env`)!;
  if (c.workingDir !== undefined) out.workingDir = substituteString(c.workingDir, r, `${where}.workingDir`);
  if (c.volumeMounts !== undefined) {
    out.volumeMounts = c.volumeMounts.map((vm) => {
      const m = { ...vm };
      for (const k of ['name', 'mountPath', 'subPath']) if (typeof m[k] === 'string') m[k] = substituteString(m[k], r, `${where}.volumeMounts.${k}`);
      return m;
    });
  }
  return out;
}

/** Step substitution: container fields plus script, onError, std*Config paths, when, params (Tekton's ApplyStepReplacements). */
export function substituteStep(step: Step, r: Replacements, where: Where): Step {
  const out = container(step, r, where);
  if (step.script !== undefined) out.script = substituteString(step.script, r, `${where}.script`);
  if (step.onError !== undefined) out.onError = substituteString(step.onError, r, `${where}.onError`) as Step['onError'];
  if (step.stdoutConfig?.path !== undefined) out.stdoutConfig = { path: substituteString(step.stdoutConfig.path, r, `${where}.stdoutConfig.path`) };
  if (step.stderrConfig?.path !== undefined) out.stderrConfig = { path: substituteString(step.stderrConfig.path, r, `${where}.stderrConfig.path`) };
  if (step.when !== undefined) out.when = substituteWhen(step.when, r, `${where}.when`)!;
  if (step.params !== undefined) out.params = substituteParams(step.params, r, `${where}.params`)!;
  return out;
}

/** One pass over a TaskSpec: steps, stepTemplate, sidecars, workspace mount paths (Tekton's ApplyReplacements). */
export function applyToTaskSpec(spec: TaskSpec, r: Replacements, stepResultsDir?: (stepIndex: number, step: Step) => string): TaskSpec {
  const out: TaskSpec = structuredClone(spec);
  out.steps = (spec.steps ?? []).map((s, i) =>
    substituteStep(s, stepResultsDir ? { ...r, stepResultsDir: stepResultsDir(i, s) } : r, `steps[${i}]`),
  );
  if (spec.stepTemplate) out.stepTemplate = container(spec.stepTemplate, r, 'stepTemplate');
  if (spec.sidecars) {
    out.sidecars = spec.sidecars.map((sc, i) => {
      const c = container(sc as StepTemplate & { name: string }, r, `sidecars[${i}]`) as typeof sc;
      if (typeof sc.script === 'string') c.script = substituteString(sc.script, r, `sidecars[${i}].script`);
      return c;
    });
  }
  if (spec.workspaces) out.workspaces = spec.workspaces.map((w) => ({ ...w, ...(w.mountPath !== undefined ? { mountPath: str(w.mountPath, r, `workspaces.${w.name}.mountPath`)! } : {}) }));
  return out;
}

/**
 * Effective param values of a Task: declared defaults, overridden by the given params (objects merged key by key,
 * as Tekton's getTaskParameters does). Params given but not declared are kept too (Tekton propagates them).
 */
export function effectiveParams(declared: readonly ParamSpec[] | undefined, given: readonly Param[] | undefined): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const p of declared ?? []) if (p.default !== undefined) out[p.name] = cloneValue(p.default);
  for (const p of given ?? []) {
    const prev = out[p.name];
    if (isObjectValue(p.value) && prev !== undefined && isObjectValue(prev)) out[p.name] = { ...prev, ...p.value };
    else out[p.name] = cloneValue(p.value);
  }
  return out;
}

function isObjectValue(v: ParamValue): v is Record<string, string> {
  return typeof v === 'object' && !Array.isArray(v);
}

function cloneValue(v: ParamValue): ParamValue {
  return typeof v === 'string' ? v : Array.isArray(v) ? [...v] : { ...v };
}

export interface TaskSubstitution {
  /** params given to the TaskRun (pipeline task params after their own substitution) */
  params?: readonly Param[];
  /** `context.taskRun.*` and `context.task.*`: name, namespace, uid, retry-count */
  context?: { taskRunName: string; taskRunNamespace: string; taskRunUid: string; taskName: string; retryCount: number };
  /** workspace name -> host path where it is mounted (absent: optional and unbound, so path "" and bound false) */
  workspaces?: Readonly<Record<string, string>>;
  /** directory for `$(results.R.path)` */
  resultsDir?: string;
  /** directory for `$(step.results.R.path)` of step i */
  stepResultsDir?: (stepIndex: number, step: Step) => string;
  /** directory for `$(steps.step-<name>.exitCode.path)` = <stepsDir>/step-<name>/exitCode (Tekton: /tekton/steps) */
  stepsDir?: string;
  /** value for `$(credentials.path)` */
  credentialsPath?: string;
}

/**
 * A TaskSpec with every Tekton variable replaced, in Tekton's order: params, context, workspaces, result paths,
 * step exit-code paths, credentials path.
 * Returns a new spec; the input is not modified.
 */
export function substituteTaskSpec(spec: TaskSpec, s: TaskSubstitution): TaskSpec {
  let out = applyToTaskSpec(spec, { params: effectiveParams(spec.params, s.params) });
  if (s.context) {
    out = applyToTaskSpec(out, {
      context: {
        'taskRun.name': s.context.taskRunName,
        'taskRun.namespace': s.context.taskRunNamespace,
        'taskRun.uid': s.context.taskRunUid,
        'task.name': s.context.taskName,
        'task.retry-count': String(s.context.retryCount),
      },
    });
  }
  if (s.workspaces) {
    const ws: Record<string, Record<string, string>> = {};
    for (const d of spec.workspaces ?? []) {
      const path = s.workspaces[d.name];
      // claim: no PersistentVolumeClaim locally (Tekton gives "" for other volume types); volume: a stable name in
      // place of Tekton's generated one (ws-xxxxx)
      ws[d.name] = path === undefined ? { path: '', bound: 'false' } : { path, bound: 'true', claim: '', volume: `ws-${d.name}` };
    }
    out = applyToTaskSpec(out, { workspaces: ws });
  }
  if (s.resultsDir !== undefined || s.stepResultsDir) {
    out = applyToTaskSpec(out, s.resultsDir !== undefined ? { resultsDir: s.resultsDir } : {}, s.stepResultsDir);
  }
  if (s.stepsDir !== undefined) out = applyToTaskSpec(out, { stepsDir: s.stepsDir });
  if (s.credentialsPath !== undefined) out = applyToTaskSpec(out, { credentialsPath: s.credentialsPath });
  return out;
}

/**
 * A Pipeline's param values for a run: the run's params, then defaults, where string defaults may refer to other
 * params (`$(params.registry)/app`), resolved recursively with cycle detection (Tekton's ApplyParameters).
 */
export function resolvePipelineParams(declared: readonly ParamSpec[] | undefined, given: readonly Param[] | undefined): Record<string, ParamValue> {
  const resolved: Record<string, ParamValue> = {};
  for (const p of given ?? []) resolved[p.name] = cloneValue(p.value);
  const pending = new Map<string, ParamValue>();
  for (const p of declared ?? []) if (p.default !== undefined && !(p.name in resolved)) pending.set(p.name, p.default);
  const visiting = new Set<string>();
  const resolveOne = (name: string, depth: number): void => {
    if (name in resolved) return;
    const value = pending.get(name);
    if (value === undefined) return;
    if (visiting.has(name)) throw new VouchError('TEKTON_INVALID', `parameter resolution failed: circular dependency detected in param "${name}"`);
    if (depth > 10) throw new VouchError('TEKTON_INVALID', `parameter resolution failed: maximum recursion depth (10) exceeded for param "${name}"`);
    visiting.add(name);
    const inner = typeof value === 'string' ? [value] : Array.isArray(value) ? value : Object.values(value);
    for (const s of inner) {
      for (const o of occurrences(s)) {
        if (o.ref.kind !== 'param') continue;
        if (!(o.ref.name in resolved) && !pending.has(o.ref.name)) {
          throw new VouchError('TEKTON_INVALID', `parameter resolution failed: param "${name}" references undefined param "${o.ref.name}"`);
        }
        resolveOne(o.ref.name, depth + 1);
      }
    }
    visiting.delete(name);
    resolved[name] = substituteParamValue(value, { params: resolved }, `params.${name}.default`);
  };
  for (const name of pending.keys()) resolveOne(name, 0);
  return resolved;
}

export interface PipelineTaskSubstitution {
  /** resolved pipeline params (resolvePipelineParams) */
  params?: Readonly<Record<string, ParamValue>>;
  /** `context.pipelineRun.name|namespace|uid`, `context.pipeline.name` */
  context?: { pipelineRunName: string; pipelineRunNamespace: string; pipelineRunUid: string; pipelineName: string };
  /** results of finished pipeline tasks */
  taskResults?: Readonly<Record<string, Readonly<Record<string, ParamValue>>>>;
  /** pipeline workspace name -> bound? (`$(workspaces.W.bound)`) */
  workspacesBound?: Readonly<Record<string, boolean>>;
  /** finally only: state of each DAG task, and `$(tasks.status)` */
  taskStates?: Readonly<Record<string, { status: string; reason?: string }>>;
  aggregateStatus?: string;
}

/**
 * A PipelineTask with its params, when expressions, taskRef params/name, displayName and workspace subPaths
 * substituted, and pipeline params and results propagated into an embedded taskSpec (Tekton's propagateParams and
 * PropagateResults), in Tekton's order: params, context, pipelineTask context, results, execution status.
 */
export function resolvePipelineTask(pt: PipelineTask, s: PipelineTaskSubstitution): PipelineTask {
  let out = structuredClone(pt);
  if (s.params) out = applyToPipelineTask(out, { params: s.params }, true);
  if (s.workspacesBound) {
    const ws: Record<string, Record<string, string>> = {};
    for (const [k, v] of Object.entries(s.workspacesBound)) ws[k] = { bound: String(v) };
    out = applyToPipelineTask(out, { workspaces: ws }, false);
  }
  if (s.context) {
    out = applyToPipelineTask(
      out,
      {
        context: {
          'pipelineRun.name': s.context.pipelineRunName,
          'pipelineRun.namespace': s.context.pipelineRunNamespace,
          'pipelineRun.uid': s.context.pipelineRunUid,
          'pipeline.name': s.context.pipelineName,
        },
      },
      true,
    );
  }
  out = applyToPipelineTask(out, { context: { 'pipelineTask.retries': String(pt.retries ?? 0) } }, false);
  if (s.taskResults) out = applyToPipelineTask(out, { taskResults: s.taskResults }, true);
  if (s.taskStates || s.aggregateStatus !== undefined) {
    out = applyToPipelineTask(out, { ...(s.taskStates ? { taskStates: s.taskStates } : {}), ...(s.aggregateStatus !== undefined ? { aggregateStatus: s.aggregateStatus } : {}) }, false);
  }
  return out;
}

function applyToPipelineTask(pt: PipelineTask, r: Replacements, intoEmbedded: boolean): PipelineTask {
  const where = `pipelineTask ${pt.name}`;
  const out: PipelineTask = { ...pt };
  if (pt.params) out.params = substituteParams(pt.params, r, `${where} params`)!;
  if (pt.when) out.when = substituteWhen(pt.when, r, `${where} when`)!;
  if (pt.displayName !== undefined) out.displayName = substituteString(pt.displayName, r, `${where} displayName`);
  if (pt.taskRef) {
    out.taskRef = { ...pt.taskRef };
    if (pt.taskRef.name !== undefined) out.taskRef.name = substituteString(pt.taskRef.name, r, `${where} taskRef.name`);
    if (pt.taskRef.params) out.taskRef.params = substituteParams(pt.taskRef.params, r, `${where} taskRef.params`)!;
  }
  if (pt.workspaces) out.workspaces = pt.workspaces.map((w) => (w.subPath === undefined ? { ...w } : { ...w, subPath: substituteString(w.subPath, r, `${where} workspaces.${w.name}.subPath`) }));
  if (pt.onError !== undefined) out.onError = substituteString(pt.onError, r, `${where} onError`) as PipelineTask['onError'];
  if (intoEmbedded && pt.taskSpec) {
    // Scoping (Tekton's propagateParams): a pipeline task param shadows the pipeline param of the same name inside
    // its taskSpec, with the param's already-substituted value. Like Tekton, this also reaches params the embedded
    // task declares itself when the pipeline has a param of that name.
    let inner = r;
    if (r.params && out.params) {
      const shadowed: Record<string, ParamValue> = { ...r.params };
      for (const p of out.params) if (p.name in shadowed) shadowed[p.name] = p.value;
      inner = { ...r, params: shadowed };
    }
    const spec = applyToTaskSpec(pt.taskSpec, inner);
    out.taskSpec = { ...pt.taskSpec, ...spec };
  }
  return out;
}

/** Every reference in a pipeline task (params, matrix, when, taskRef, displayName, embedded taskSpec steps). */
export function referencesIn(pt: PipelineTask): Ref[] {
  const strings: string[] = [];
  const addValue = (v: ParamValue | undefined): void => {
    if (v === undefined) return;
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) strings.push(...v);
    else strings.push(...Object.values(v));
  };
  for (const p of pt.params ?? []) addValue(p.value);
  for (const p of pt.matrix?.params ?? []) addValue(p.value);
  for (const inc of pt.matrix?.include ?? []) for (const p of inc.params) addValue(p.value);
  for (const w of pt.when ?? []) {
    if (w.input !== undefined) strings.push(w.input);
    strings.push(...(w.values ?? []));
  }
  for (const p of pt.taskRef?.params ?? []) addValue(p.value);
  if (pt.taskRef?.name !== undefined) strings.push(pt.taskRef.name);
  if (pt.displayName !== undefined) strings.push(pt.displayName);
  if (pt.taskSpec) strings.push(...taskSpecStrings(pt.taskSpec));
  return strings.flatMap((s) => occurrences(s).map((o) => o.ref));
}

/** All strings of a TaskSpec that Tekton substitutes. */
export function taskSpecStrings(spec: TaskSpec): string[] {
  const out: string[] = [];
  const c = (x: StepTemplate & { name?: string; script?: string }): void => {
    for (const v of [x.name, x.image, x.workingDir, x.imagePullPolicy, x.script]) if (v !== undefined) out.push(v);
    out.push(...(x.command ?? []), ...(x.args ?? []));
    for (const e of x.env ?? []) if (e.value !== undefined) out.push(e.value);
  };
  for (const s of spec.steps ?? []) {
    c(s);
    if (s.onError !== undefined) out.push(s.onError);
    for (const w of s.when ?? []) out.push(...(w.input !== undefined ? [w.input] : []), ...(w.values ?? []));
  }
  if (spec.stepTemplate) c(spec.stepTemplate);
  for (const sc of spec.sidecars ?? []) c(sc);
  return out;
}
