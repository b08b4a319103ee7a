// Validation of Tasks, Pipelines and PipelineRuns before anything runs. It combines what Tekton checks at admission
// (pkg/apis/pipeline/v1/*_validation.go: strict fields, names, params, DAG, when, workspaces, results) with what
// Tekton only finds once a run starts (pkg/reconciler/pipelinerun/resources/validate_dependencies.go and
// taskrun validation: missing params, param type mismatches, references to results a task does not declare), so a
// local run fails before its first step, not half-way. Every problem names file:line:col and the field path; all
// problems are reported at once (VouchError TEKTON_INVALID).
//
// With `local: true` (the default) features the local runner cannot execute are refused here too, with the field
// named: sidecars, volumes, StepActions (steps[].ref), step results, remote resolution (resolver), custom tasks,
// matrix, CEL when expressions, pipelines in pipelines, stdout/stderrConfig.

import type { Loaded } from './load.ts';
import { buildDag, findCycle, type Dag } from './dag.ts';
import { formatDuration, parseDuration } from './duration.ts';
import { ProblemList, formatPath, type FieldPath } from './problems.ts';
import { isolated, occurrences, type Occurrence, type Ref } from './refs.ts';
import { checkStructure, normaliseParamValue, pruneNulls, resourceSchemas } from './schema.ts';
import { resolvePipelineParams } from './substitute.ts';
import type {
  Param,
  ParamSpec,
  ParamType,
  ParamValue,
  Pipeline,
  PipelineRun,
  PipelineSpec,
  PipelineTask,
  Task,
  TaskResult,
  TaskRun,
  TaskSpec,
  WhenExpression,
} from './types.ts';

export interface ValidateOptions {
  /** refuse what vouch's local runner cannot run (default true); false checks only what Tekton itself checks */
  local?: boolean;
}

/** Looks up a Task by taskRef name (e.g. from loadTasksDir). */
export type TaskResolver = (name: string) => Loaded<Task> | undefined;
/** Looks up a Pipeline by pipelineRef name. */
export type PipelineResolver = (name: string) => Loaded<Pipeline> | undefined;

export interface ResolvedPipelineTask {
  pipelineTask: PipelineTask;
  section: 'tasks' | 'finally';
  index: number;
  /** the Task spec to run (the referenced Task's spec, or the embedded taskSpec), with Tekton's defaults applied */
  taskSpec: TaskSpec;
  /** metadata.name of the referenced Task (label tekton.dev/task); undefined for an embedded taskSpec */
  taskName: string | undefined;
  /** the referenced Task as loaded (for its file and positions); undefined for an embedded taskSpec */
  taskSource: Loaded<Task> | undefined;
}

export interface ValidatedPipeline {
  /** metadata.name of the Pipeline; undefined for a PipelineRun's embedded pipelineSpec */
  name: string | undefined;
  spec: PipelineSpec;
  tasks: ResolvedPipelineTask[];
  finally: ResolvedPipelineTask[];
  dag: Dag;
}

export interface ValidatedPipelineRun {
  pipeline: ValidatedPipeline;
  /** the Pipeline file when the run uses pipelineRef */
  pipelineSource: Loaded<Pipeline> | undefined;
  /** the run's params merged with the Pipeline's defaults (defaults may refer to other params) */
  params: Record<string, ParamValue>;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const PARAM_NAME = /^[_a-zA-Z][_a-zA-Z0-9.-]*$/;
const OBJECT_PARAM_NAME = /^[_a-zA-Z][_a-zA-Z0-9-]*$/;
const RESULT_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

type Report = (path: FieldPath, message: string) => void;

/**
 * Strict structure first (unknown fields, types, required fields). The semantic checks then run on a copy without
 * the fields that failed, so one pass reports every problem without tripping over a wrong type, and nothing is
 * reported twice inside a field that already failed.
 */
function structured<T extends object>(resource: T, kind: string, report: Report): { subject: T; report: Report } {
  pruneNulls(resource);
  const bad: FieldPath[] = [];
  checkStructure(resource, resourceSchemas[kind]!, [], (path, message) => {
    report(path, message);
    // a bad list item takes its whole list out: removing one item would shift the indices of the rest
    const field = [...path];
    while (typeof field[field.length - 1] === 'number') field.pop();
    bad.push(field);
  });
  if (bad.length === 0) return { subject: resource, report };
  const subject = structuredClone(resource);
  for (const path of bad) removeField(subject, path);
  const badPaths = bad.map((b) => formatPath(b));
  const filtered: Report = (path, message) => {
    const f = formatPath(path);
    if (!badPaths.some((b) => b === '' || f === b || f.startsWith(`${b}.`) || f.startsWith(`${b}[`))) report(path, message);
  };
  return { subject, report: filtered };
}

function removeField(root: object, path: FieldPath): void {
  let at: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (typeof at !== 'object' || at === null) return;
    at = (at as Record<string | number, unknown>)[seg];
  }
  const last = path[path.length - 1];
  if (last !== undefined && typeof at === 'object' && at !== null && !Array.isArray(at)) Reflect.deleteProperty(at, last);
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function reporter(l: Loaded, problems: ProblemList): Report {
  return (path, message) => {
    problems.add({ file: l.file, ...l.position(path) }, path, message);
  };
}

/** The declared type of a param, with Tekton's defaulting (from the default value, then properties, then string). */
export function paramTypeOf(p: ParamSpec): ParamType {
  if (p.type) return p.type;
  if (p.default !== undefined) return valueType(p.default);
  if (p.properties) return 'object';
  return 'string';
}

export function valueType(v: ParamValue): ParamType {
  return typeof v === 'string' ? 'string' : Array.isArray(v) ? 'array' : 'object';
}

export function resultTypeOf(r: TaskResult): ParamType {
  return r.type ?? (r.properties ? 'object' : 'string');
}

function checkMetadataName(meta: unknown, report: Report, required: boolean): void {
  const m = (meta ?? {}) as { name?: unknown; generateName?: unknown };
  if (typeof m.name === 'string') {
    if (m.name.length > 63) report(['metadata', 'name'], `invalid resource name "${m.name}": must be no more than 63 characters`);
    else if (m.name.includes('.')) report(['metadata', 'name'], `invalid resource name "${m.name}": special character . must not be present`);
    else if (!DNS1123_LABEL.test(m.name)) report(['metadata', 'name'], `invalid resource name "${m.name}": must be a valid DNS label (lower case letters, digits and '-')`);
  } else if (required && typeof m.generateName !== 'string') {
    report(['metadata'], 'missing field(s): metadata.name (or metadata.generateName)');
  }
}

function normaliseValues(list: { value?: unknown; default?: unknown }[] | undefined): void {
  for (const p of list ?? []) {
    if ('value' in p) p.value = normaliseParamValue(p.value);
    if ('default' in p) p.default = normaliseParamValue(p.default);
  }
}

// ---- params ------------------------------------------------------------------------------------------------------

function checkParamSpecs(params: ParamSpec[] | undefined, at: FieldPath, report: Report): void {
  normaliseValues(params);
  const seen = new Set<string>();
  (params ?? []).forEach((p, i) => {
    const here = [...at, i];
    if (seen.has(p.name)) report([...here, 'name'], `parameter "${p.name}" appears more than once`);
    seen.add(p.name);
    if (p.type !== undefined && !['string', 'array', 'object'].includes(p.type)) {
      report([...here, 'type'], `invalid value: ${p.type} (expected string, array or object)`);
      return;
    }
    const type = paramTypeOf(p);
    const nameOk = type === 'object' ? OBJECT_PARAM_NAME.test(p.name) : PARAM_NAME.test(p.name);
    if (!nameOk) {
      report([...here, 'name'], `invalid parameter name "${p.name}": must start with a letter or "_" and contain only letters, digits, "_", "-"${type === 'object' ? '' : ' and "."'}`);
    }
    if (p.default !== undefined && valueType(p.default) !== type) {
      report([...here, 'default'], `"${type}" type does not match default value's type: "${valueType(p.default)}"`);
    }
    if (type === 'object') {
      if (!p.properties) report([...here, 'properties'], `missing field(s): ${p.name}.properties (object params declare their keys)`);
      for (const [k, ps] of Object.entries(p.properties ?? {})) {
        if ((ps as { type?: unknown }).type !== 'string') report([...here, 'properties', k, 'type'], `The value type specified for key "${k}" is invalid (only string)`);
        if (!OBJECT_PARAM_NAME.test(k)) report([...here, 'properties', k], `invalid object key name "${k}"`);
      }
      if (p.default !== undefined && typeof p.default === 'object' && !Array.isArray(p.default) && p.properties) {
        for (const k of Object.keys(p.properties)) {
          if (!(k in p.default)) report([...here, 'default'], `default of object param "${p.name}" misses key "${k}"`);
        }
      }
    }
    if (p.enum) {
      if (type !== 'string') report([...here, 'enum'], 'enum is only allowed for string params');
      if (new Set(p.enum).size !== p.enum.length) report([...here, 'enum'], 'enum values must be unique');
      if (typeof p.default === 'string' && !p.enum.includes(p.default)) report([...here, 'default'], `default "${p.default}" is not in the enum [${p.enum.join(', ')}]`);
    }
  });
}

function checkParamList(params: Param[] | undefined, at: FieldPath, report: Report): void {
  normaliseValues(params);
  const seen = new Set<string>();
  (params ?? []).forEach((p, i) => {
    if (seen.has(p.name)) report([...at, i, 'name'], `parameter names must be unique, the parameter "${p.name}" is also defined`);
    seen.add(p.name);
    if (p.value === undefined || p.value === null) report([...at, i], `missing field(s): value of param "${p.name}"`);
  });
}

// ---- tasks -------------------------------------------------------------------------------------------------------

interface TaskContext {
  /** where the spec sits in its document */
  at: FieldPath;
  report: Report;
  local: boolean;
  /**
   * embedded in a pipeline: results and context reach it; `params` are the params that propagate into it (only in
   * a PipelineRun's embedded pipelineSpec; a standalone Pipeline's embedded tasks must declare what they use)
   */
  pipeline?: { params: ReadonlyMap<string, ParamSpec> | undefined; checkRef: (ref: Ref, path: FieldPath) => void };
}

/** Validates a Task (strict fields, names, params, results, workspaces, variables); returns its spec with defaults. */
export function validateTask(loaded: Loaded<Task>, options: ValidateOptions = {}): TaskSpec {
  const problems = new ProblemList();
  const report = reporter(loaded, problems);
  const { subject: task, report: semantic } = structured(loaded.resource, 'Task', report);
  checkMetadataName(task.metadata, semantic, true);
  if (!isObject(task.spec)) semantic(['spec'], 'missing field(s): spec');
  else checkTaskSpec(task.spec, { at: ['spec'], report: semantic, local: options.local ?? true });
  problems.throwIfAny();
  return withTaskDefaults(task.spec);
}

/** Tekton's SetDefaults for a TaskSpec: param and result types, object properties typed string. Returns a copy. */
export function withTaskDefaults(spec: TaskSpec): TaskSpec {
  const out = structuredClone(spec);
  for (const p of out.params ?? []) {
    p.type = paramTypeOf(p);
    typeProperties(p.properties);
  }
  for (const r of out.results ?? []) {
    r.type = resultTypeOf(r);
    typeProperties(r.properties);
  }
  return out;
}

/** ParamSpec/TaskResult SetDefaults: a property without a type is a string (`uri: {}` -> `uri: {type: string}`). */
export function typeProperties(properties: Record<string, { type?: string }> | undefined): void {
  for (const prop of Object.values(properties ?? {})) prop.type ??= 'string';
}

function checkTaskSpec(spec: TaskSpec, ctx: TaskContext): void {
  const { at, report } = ctx;
  checkParamSpecs(spec.params, [...at, 'params'], report);
  const params = new Map((spec.params ?? []).map((p) => [p.name, p]));
  if (!Array.isArray(spec.steps) || spec.steps.length === 0) report([...at, 'steps'], 'missing field(s): steps');
  if (ctx.local && spec.sidecars?.length) report([...at, 'sidecars'], 'sidecars are not supported by vouch run (steps run as sandboxed host processes)');
  if (ctx.local && spec.volumes?.length) report([...at, 'volumes'], 'volumes are not supported by vouch run; use workspaces');

  // workspaces
  const wsNames = new Set<string>();
  const mountPaths = new Set<string>();
  (spec.workspaces ?? []).forEach((w, i) => {
    if (wsNames.has(w.name)) report([...at, 'workspaces', i, 'name'], `workspace name "${w.name}" must be unique`);
    wsNames.add(w.name);
    const mp = w.mountPath ?? `/workspace/${w.name}`;
    if (mountPaths.has(mp)) report([...at, 'workspaces', i, 'mountPath'], `workspace mount path "${mp}" must be unique`);
    mountPaths.add(mp);
  });

  // results
  const results = new Map<string, TaskResult>();
  (spec.results ?? []).forEach((r, i) => {
    const here = [...at, 'results', i];
    if (results.has(r.name)) report([...here, 'name'], `result name "${r.name}" appears more than once`);
    results.set(r.name, r);
    if (!RESULT_NAME.test(r.name)) report([...here, 'name'], `invalid result name "${r.name}": must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character`);
    if (r.type !== undefined && !['string', 'array', 'object'].includes(r.type)) report([...here, 'type'], `invalid value: ${r.type} (expected string, array or object)`);
    if (resultTypeOf(r) === 'object' && !r.properties) report([...here, 'properties'], `missing field(s): properties of object result "${r.name}"`);
  });

  // steps
  const stepNames = new Set<string>();
  const stepContainers = new Set((spec.steps ?? []).map((s, i) => (s.name ? `step-${s.name}` : `step-unnamed-${i}`)));
  (spec.steps ?? []).forEach((s, i) => {
    const here = [...at, 'steps', i];
    if (s.name !== undefined && s.name !== '') {
      if (stepNames.has(s.name)) report([...here, 'name'], `step name "${s.name}" is used more than once`);
      stepNames.add(s.name);
      if (!DNS1123_LABEL.test(s.name) || s.name.length > 63) report([...here, 'name'], `invalid value "${s.name}": Task step name must be a valid DNS Label`);
    }
    if (s.ref !== undefined) {
      if (ctx.local) report([...here, 'ref'], 'StepActions (steps[].ref) are not supported by vouch run');
    } else {
      if (s.params?.length) report([...here, 'params'], 'params cannot be used without Ref');
      if ((s.image === undefined || s.image === '') && spec.stepTemplate?.image === undefined) report([...here, 'image'], 'missing field(s): image');
      if (s.script !== undefined && s.script !== '' && s.command?.length) report([...here, 'script'], 'script cannot be used with command');
    }
    const stepOnError: string | undefined = s.onError;
    if (stepOnError !== undefined && !stepOnError.startsWith('$(params.') && stepOnError !== 'continue' && stepOnError !== 'stopAndFail') {
      report([...here, 'onError'], `invalid value: "${stepOnError}" (Task step onError must be either "continue" or "stopAndFail")`);
    }
    if (s.timeout !== undefined) {
      const d = parseDuration(s.timeout);
      if (d === undefined) report([...here, 'timeout'], `invalid duration "${s.timeout}" (Go duration, e.g. 90s, 5m, 1h30m)`);
      else if (d < 0) report([...here, 'timeout'], `invalid value: negative timeout "${s.timeout}"`);
    }
    if (s.stdoutConfig !== undefined || s.stderrConfig !== undefined) {
      report([...here, s.stdoutConfig !== undefined ? 'stdoutConfig' : 'stderrConfig'], 'stdoutConfig/stderrConfig need enable-api-fields "alpha" in Tekton and are not supported by vouch run');
    }
    (s.workspaces ?? []).forEach((w, j) => {
      if (!wsNames.has(w.name)) report([...here, 'workspaces', j, 'name'], `undefined workspace "${w.name}"`);
    });
    (s.volumeMounts ?? []).forEach((vm, j) => {
      const mp = vm['mountPath'];
      if (typeof mp === 'string' && mp.startsWith('/tekton/') && !mp.startsWith('/tekton/home')) {
        report([...here, 'volumeMounts', j, 'mountPath'], `volumeMount cannot be mounted under /tekton/ (mounted at "${mp}")`);
      }
    });
    if (ctx.local && s.results?.length) report([...here, 'results'], 'step results (steps[].results) are not supported by vouch run; declare Task results instead');
    if (ctx.local && s.volumeMounts?.length) report([...here, 'volumeMounts'], 'volumeMounts are not supported by vouch run; use workspaces');
    if (ctx.local && s.when?.length) report([...here, 'when'], 'step when expressions are not supported by vouch run; put the condition on the pipeline task');
    (s.env ?? []).forEach((e, j) => {
      if (ctx.local && e.valueFrom !== undefined) report([...here, 'env', j, 'valueFrom'], `env ${e.name}: valueFrom (Secrets, ConfigMaps, fields) is not supported by vouch run; steps get plain values only`);
    });
    const stepResults = new Set((s.results ?? []).map((r) => r.name));
    (s.when ?? []).forEach((w, j) => {
      checkWhenShape(w, [...here, 'when', j], report, ctx.local);
    });

    // variables
    const check = (value: string | undefined, path: FieldPath, arrayItem: boolean): void => {
      if (value === undefined) return;
      for (const occ of occurrences(value)) {
        checkTaskRef(occ, value, path, arrayItem, { params, stepContainers, results, wsNames, stepResults, ctx });
      }
    };
    for (const f of ['name', 'image', 'workingDir', 'script', 'onError', 'imagePullPolicy'] as const) check(s[f], [...here, f], false);
    (s.command ?? []).forEach((c, j) => {
      check(c, [...here, 'command', j], true);
    });
    (s.args ?? []).forEach((c, j) => {
      check(c, [...here, 'args', j], true);
    });
    (s.env ?? []).forEach((e, j) => {
      check(e.value, [...here, 'env', j, 'value'], false);
    });
    (s.when ?? []).forEach((w, j) => {
      check(w.input, [...here, 'when', j, 'input'], false);
      (w.values ?? []).forEach((v, k) => {
        check(v, [...here, 'when', j, 'values', k], true);
      });
    });
  });
  if (spec.stepTemplate) {
    const t = spec.stepTemplate;
    const here = [...at, 'stepTemplate'];
    const check = (value: string | undefined, path: FieldPath, arrayItem: boolean): void => {
      if (value === undefined) return;
      for (const occ of occurrences(value)) checkTaskRef(occ, value, path, arrayItem, { params, stepContainers, results, wsNames, stepResults: new Set(), ctx });
    };
    for (const f of ['image', 'workingDir', 'imagePullPolicy'] as const) check(t[f], [...here, f], false);
    (t.command ?? []).forEach((c, j) => {
      check(c, [...here, 'command', j], true);
    });
    (t.args ?? []).forEach((c, j) => {
      check(c, [...here, 'args', j], true);
    });
    (t.env ?? []).forEach((e, j) => {
      check(e.value, [...here, 'env', j, 'value'], false);
    });
  }
}

interface TaskScope {
  params: ReadonlyMap<string, ParamSpec>;
  /** `step-<name>` / `step-unnamed-<i>` of every step, for $(steps.step-X.exitCode.path) */
  stepContainers: ReadonlySet<string>;
  results: ReadonlyMap<string, TaskResult>;
  wsNames: ReadonlySet<string>;
  stepResults: ReadonlySet<string>;
  ctx: TaskContext;
}

const TASK_CONTEXT = new Set(['taskRun.name', 'taskRun.namespace', 'taskRun.uid', 'task.name', 'task.retry-count']);
const PIPELINE_CONTEXT = new Set(['pipelineRun.name', 'pipelineRun.namespace', 'pipelineRun.uid', 'pipeline.name', 'pipelineTask.retries']);

function checkTaskRef(occ: Occurrence, value: string, path: FieldPath, arrayItem: boolean, scope: TaskScope): void {
  const { report } = scope.ctx;
  const ref = occ.ref;
  switch (ref.kind) {
    case 'param': {
      const declared = scope.params.get(ref.name) ?? scope.ctx.pipeline?.params?.get(ref.name);
      if (!declared) {
        const hint = scope.ctx.pipeline && !scope.ctx.pipeline.params ? ' (params propagate into an embedded taskSpec only in a PipelineRun\'s pipelineSpec; declare it in the taskSpec)' : '';
        report(path, `non-existent variable in "${value}": no param "${ref.name}" is declared${hint}`);
        return;
      }
      checkParamUse(ref, paramTypeOf(declared), declared, value, path, arrayItem, report);
      return;
    }
    case 'context':
      if (!TASK_CONTEXT.has(`${ref.scope}.${ref.attr}`) && !(scope.ctx.pipeline && PIPELINE_CONTEXT.has(`${ref.scope}.${ref.attr}`))) {
        report(path, `non-existent variable in "${value}": $(context.${ref.scope}.${ref.attr}) is not a Tekton context variable here`);
      }
      return;
    case 'ownResult':
      if (!scope.results.has(ref.name)) report(path, `non-existent variable in "${value}": the Task declares no result "${ref.name}"`);
      return;
    case 'stepResult':
      if (!scope.stepResults.has(ref.name)) report(path, `non-existent variable in "${value}": the step declares no result "${ref.name}"`);
      return;
    case 'workspace':
      if (!scope.wsNames.has(ref.name)) report(path, `non-existent variable in "${value}": the Task declares no workspace "${ref.name}"`);
      else if (!['path', 'bound', 'claim', 'volume'].includes(ref.attr)) report(path, `non-existent variable in "${value}": workspaces have path, bound, claim and volume`);
      return;
    case 'stepExitCode':
      if (!scope.stepContainers.has(ref.container)) report(path, `non-existent variable in "${value}": no step is named "${ref.container.replace(/^step-/, '')}"`);
      return;
    case 'credentials':
      return;
    case 'taskResult':
    case 'taskState':
    case 'aggregateStatus':
      if (scope.ctx.pipeline) scope.ctx.pipeline.checkRef(ref, path);
      else report(path, `"${occ.text}" can only be used in a Pipeline`);
      return;
    case 'other':
      return;
  }
}

/** Rules for using a param of a given type at a place (Tekton's validateArrayUsage / validateObjectUsage). */
function checkParamUse(
  ref: Extract<Ref, { kind: 'param' }>,
  type: ParamType,
  declared: ParamSpec | undefined,
  value: string,
  path: FieldPath,
  arrayItem: boolean,
  report: Report,
): void {
  const sel = ref.sel;
  const whole = sel.kind === 'whole' || sel.kind === 'star';
  if (type === 'string') {
    if (sel.kind !== 'whole') report(path, `param "${ref.name}" is a string; ${sel.kind === 'key' ? `.${sel.key}` : sel.kind === 'index' ? `[${sel.index}]` : '[*]'} applies to arrays and objects only`);
    return;
  }
  if (type === 'array') {
    if (sel.kind === 'key') report(path, `param "${ref.name}" is an array; use [*] or [index], not .${sel.key}`);
    else if (whole && !(arrayItem && isolated(value))) {
      report(path, arrayItem ? `variable is not properly isolated in "${value}": an array param must be the whole item` : `variable type invalid in "${value}": array param "${ref.name}" can only be used as a whole item of command, args or an array`);
    }
    // an index is checked against the actual array when the task is substituted (TEKTON_SUBSTITUTION_FAILED)
    return;
  }
  // object
  if (sel.kind === 'index') report(path, `param "${ref.name}" is an object; use .key, not [${sel.index}]`);
  else if (whole) report(path, `variable type invalid in "${value}": the whole object param "${ref.name}" can only be passed as a param value`);
  else if (sel.kind === 'key' && declared?.properties && !(sel.key in declared.properties)) {
    report(path, `non-existent variable in "${value}": object param "${ref.name}" has no key "${sel.key}"`);
  }
}

// ---- when --------------------------------------------------------------------------------------------------------

function checkWhenShape(w: WhenExpression, at: FieldPath, report: Report, local: boolean): void {
  if (w.cel !== undefined) {
    if (w.input !== undefined || w.operator !== undefined || (w.values?.length ?? 0) > 0) report(at, 'cel and input+operator+values cannot be set in one WhenExpression');
    else if (local) report([...at, 'cel'], 'CEL when expressions need the enable-cel-in-whenexpression feature flag and are not supported by vouch run');
    return;
  }
  if (w.input === undefined && w.operator === undefined && w.values === undefined) {
    report(at, 'missing field(s): input, operator, values');
    return;
  }
  const op: string | undefined = w.operator;
  if (op !== 'in' && op !== 'notin') {
    report([...at, 'operator'], `operator "${op ?? ''}" is not recognized. valid operators: in,notin`);
  }
  if (!w.values || w.values.length === 0) report([...at, 'values'], 'invalid value: expecting non-empty values field');
}

// ---- pipelines ---------------------------------------------------------------------------------------------------

/**
 * Validates a Pipeline and every Task it uses (taskRef resolved with `resolveTask`, or embedded taskSpec). Returns
 * the resolved pipeline: each task's TaskSpec and the DAG.
 */
export function validatePipeline(loaded: Loaded<Pipeline>, resolveTask: TaskResolver, options: ValidateOptions = {}): ValidatedPipeline {
  const problems = new ProblemList();
  const report = reporter(loaded, problems);
  const { subject: p, report: semantic } = structured(loaded.resource, 'Pipeline', report);
  checkMetadataName(p.metadata, semantic, true);
  const result = checkPipelineSpec(p.spec, ['spec'], semantic, resolveTask, options.local ?? true, p.metadata?.name, false);
  problems.throwIfAny();
  return result;
}

function checkPipelineSpec(
  spec: PipelineSpec,
  at: FieldPath,
  report: Report,
  resolveTask: TaskResolver,
  local: boolean,
  name: string | undefined,
  /** params propagate into embedded taskSpecs (a PipelineRun's embedded pipelineSpec) */
  propagate: boolean,
): ValidatedPipeline {
  if (!isObject(spec)) {
    report(at, `missing field(s): ${at[at.length - 1] ?? 'spec'}`);
    return { name, spec, tasks: [], finally: [], dag: buildDag([]) };
  }
  const tasks = spec.tasks ?? [];
  const finallyTasks = spec.finally ?? [];
  if (tasks.length === 0 && finallyTasks.length === 0 && !spec.params && !spec.workspaces && !spec.description) {
    report(at, 'expected at least one, got none: description, params, tasks, workspaces');
  }
  if (tasks.length === 0 && finallyTasks.length > 0) report([...at, 'finally'], `spec.tasks is empty but spec.finally has ${finallyTasks.length} tasks`);

  // params
  checkParamSpecs(spec.params, [...at, 'params'], report);
  const pipelineParams = new Map((spec.params ?? []).map((pp) => [pp.name, pp]));
  // defaults may refer to other params (resolved when the run starts); the names must exist
  (spec.params ?? []).forEach((pp, i) => {
    const d = pp.default;
    if (d === undefined) return;
    for (const s of typeof d === 'string' ? [d] : Array.isArray(d) ? d : Object.values(d)) {
      for (const o of occurrences(s)) {
        if (o.ref.kind === 'param' && !pipelineParams.has(o.ref.name)) report([...at, 'params', i, 'default'], `param "${pp.name}" references undefined param "${o.ref.name}"`);
      }
    }
  });

  // workspaces
  const wsNames = new Set<string>();
  (spec.workspaces ?? []).forEach((w, i) => {
    if (w.name === '') report([...at, 'workspaces', i, 'name'], `workspace ${i} has empty name`);
    if (wsNames.has(w.name)) report([...at, 'workspaces', i, 'name'], `workspace with name "${w.name}" appears more than once`);
    wsNames.add(w.name);
  });

  // names, uniqueness, task resolution
  const dagNames = new Set(tasks.map((t) => t.name));
  const finallyNames = new Set(finallyTasks.map((t) => t.name));
  const seen = new Set<string>();
  const resolved: { tasks: ResolvedPipelineTask[]; finally: ResolvedPipelineTask[] } = { tasks: [], finally: [] };
  const specsByTask = new Map<string, TaskSpec>();
  for (const section of ['tasks', 'finally'] as const) {
    (section === 'tasks' ? tasks : finallyTasks).forEach((pt, i) => {
      const here = [...at, section, i];
      if (typeof pt.name !== 'string' || !DNS1123_LABEL.test(pt.name) || pt.name.length > 63) {
        report([...here, 'name'], `invalid value "${pt.name}": Pipeline Task name must be a valid DNS Label`);
      }
      if (seen.has(pt.name)) report([...here, 'name'], `expected exactly one, got both: pipeline task name "${pt.name}" is used more than once`);
      seen.add(pt.name);
      const r = resolvePipelineTaskSpec(pt, here, report, resolveTask, local, pipelineParams);
      if (r) {
        specsByTask.set(pt.name, r.taskSpec);
        resolved[section].push({ pipelineTask: pt, section, index: i, taskSpec: r.taskSpec, taskName: r.taskName, taskSource: r.taskSource });
      }
    });
  }

  // per-task checks: runAfter, params, when, workspaces, references
  for (const section of ['tasks', 'finally'] as const) {
    (section === 'tasks' ? tasks : finallyTasks).forEach((pt, i) => {
      const here = [...at, section, i];
      const isFinally = section === 'finally';
      if (isFinally && pt.runAfter?.length) report([...here, 'runAfter'], `no runAfter allowed under spec.finally, final task ${pt.name} has runAfter specified`);
      (pt.runAfter ?? []).forEach((dep, j) => {
        if (!isFinally && !dagNames.has(dep)) report([...here, 'runAfter', j], `task ${pt.name} depends on ${dep} but ${dep} wasn't present in Pipeline`);
      });
      if (pt.retries !== undefined && pt.retries < 0) report([...here, 'retries'], `invalid value: ${pt.retries} (retries must be >= 0)`);
      if (pt.timeout !== undefined && parseDuration(pt.timeout) === undefined) report([...here, 'timeout'], `invalid duration "${pt.timeout}"`);
      const ptOnError: string | undefined = pt.onError;
      if (ptOnError !== undefined && ptOnError !== 'continue' && ptOnError !== 'stopAndFail') report([...here, 'onError'], `invalid value: "${ptOnError}" (continue or stopAndFail)`);
      checkParamList(pt.params, [...here, 'params'], report);
      (pt.when ?? []).forEach((w, j) => {
        checkWhenShape(w, [...here, 'when', j], report, local);
      });

      const refCheck = (ref: Ref, path: FieldPath, value: string, place: 'string' | 'arrayItem' | 'paramValue'): void => {
        checkPipelineRef(ref, path, value, place, {
          report,
          self: pt.name,
          isFinally,
          dagNames,
          finallyNames,
          pipelineParams,
          specsByTask,
        });
      };
      const checkString = (value: string | undefined, path: FieldPath, place: 'string' | 'arrayItem' | 'paramValue'): void => {
        if (value === undefined) return;
        for (const occ of occurrences(value)) {
          if (occ.ref.kind === 'param' || occ.ref.kind === 'taskResult') {
            // a whole array/object is only allowed as an isolated param value or array item
            const iso = isolated(value) !== undefined;
            refCheck(occ.ref, path, value, place === 'string' || !iso ? 'string' : place);
          } else refCheck(occ.ref, path, value, place);
        }
      };
      (pt.params ?? []).forEach((prm, j) => {
        const v = prm.value as ParamValue | undefined;
        if (v === undefined || v === null) return;
        if (typeof v === 'string') checkString(v, [...here, 'params', j, 'value'], 'paramValue');
        else if (Array.isArray(v)) v.forEach((s, k) => {
          checkString(s, [...here, 'params', j, 'value', k], 'arrayItem');
        });
        else for (const [k, s] of Object.entries(v)) checkString(s, [...here, 'params', j, 'value', k], 'string');
      });
      (pt.when ?? []).forEach((w, j) => {
        checkString(w.input, [...here, 'when', j, 'input'], 'string');
        (w.values ?? []).forEach((s, k) => {
          checkString(s, [...here, 'when', j, 'values', k], 'arrayItem');
        });
      });
      checkString(pt.displayName, [...here, 'displayName'], 'string');
      (pt.workspaces ?? []).forEach((w, j) => {
        checkString(w.subPath, [...here, 'workspaces', j, 'subPath'], 'string');
      });

      // embedded taskSpec: validated as a Task, with pipeline params, results and context propagated into it
      if (pt.taskSpec && typeof pt.taskSpec === 'object') {
        checkTaskSpec(pt.taskSpec, {
          at: [...here, 'taskSpec'],
          report,
          local,
          pipeline: {
            params: propagate ? new Map([...pipelineParams, ...(pt.params ?? []).map((pp): [string, ParamSpec] => [pp.name, { name: pp.name, type: valueType(pp.value) }])]) : undefined,
            checkRef: (ref, path) => {
              refCheck(ref, path, '', 'string');
            },
          },
        });
      }

      const spec = specsByTask.get(pt.name);
      if (spec) checkTaskBinding(pt, spec, here, report, pipelineParams, specsByTask, wsNames);
    });
  }

  // DAG
  const dag = buildDag(tasks);
  const cycle = findCycle(dag);
  if (cycle) {
    const first = cycle[0]!;
    const idx = tasks.findIndex((t) => t.name === first);
    report([...at, 'tasks', idx, 'name'], `cycle detected; task "${first}" depends on ${cycle.slice(1).map((c) => `"${c}"`).join(' which depends on ')}`);
  }

  // pipeline results
  (spec.results ?? []).forEach((r, i) => {
    const here = [...at, 'results', i];
    normaliseValues([r]);
    const values = typeof r.value === 'string' ? [r.value] : Array.isArray(r.value) ? r.value : Object.values(r.value ?? {});
    const occ = values.flatMap((v) => occurrences(v));
    if (occ.length === 0) {
      report([...here, 'value'], 'invalid value: expected pipeline results to be task result expressions but no expressions were found');
      return;
    }
    for (const o of occ) {
      if (o.ref.kind !== 'taskResult') {
        report([...here, 'value'], `invalid value: expected all of the expressions to be result expressions, "${o.text}" is not`);
        continue;
      }
      const names = o.ref.scope === 'tasks' ? dagNames : finallyNames;
      if (!names.has(o.ref.task)) {
        report([...here, 'value'], `invalid value: referencing a nonexistent task "${o.ref.task}" in ${o.text}`);
        continue;
      }
      checkResultExists(o.ref, specsByTask.get(o.ref.task), [...here, 'value'], report);
    }
  });

  return { name, spec, tasks: resolved.tasks, finally: resolved.finally, dag };
}

function resolvePipelineTaskSpec(
  pt: PipelineTask,
  here: FieldPath,
  report: Report,
  resolveTask: TaskResolver,
  local: boolean,
  _pipelineParams: ReadonlyMap<string, ParamSpec>,
): { taskSpec: TaskSpec; taskName: string | undefined; taskSource: Loaded<Task> | undefined } | undefined {
  if (pt.pipelineRef !== undefined || pt.pipelineSpec !== undefined) {
    report([...here, pt.pipelineRef !== undefined ? 'pipelineRef' : 'pipelineSpec'], 'pipelines in pipelines need enable-api-fields "alpha" in Tekton and are not supported by vouch run');
    return undefined;
  }
  if (local && pt.matrix !== undefined) report([...here, 'matrix'], 'matrix is not supported by vouch run');
  if (pt.taskRef && pt.taskSpec) {
    report(here, 'expected exactly one, got both: taskRef, taskSpec');
    return undefined;
  }
  if (!pt.taskRef && !pt.taskSpec) {
    report(here, 'expected exactly one, got neither: taskRef, taskSpec');
    return undefined;
  }
  if (pt.taskSpec) {
    const ts = pt.taskSpec;
    if ((ts.apiVersion !== undefined || (ts.kind !== undefined && ts.kind !== 'Task')) && !ts.steps?.length) {
      if (local) report([...here, 'taskSpec'], 'custom tasks (taskSpec with apiVersion/kind) are not supported by vouch run');
      return undefined;
    }
    if (ts.steps?.length && ts.apiVersion !== undefined) report([...here, 'taskSpec', 'apiVersion'], 'taskSpec.apiVersion cannot be specified when using taskSpec.steps');
    if (ts.steps?.length && ts.kind !== undefined) report([...here, 'taskSpec', 'kind'], 'taskSpec.kind cannot be specified when using taskSpec.steps');
    const { metadata: _m, apiVersion: _a, kind: _k, spec: _s, ...taskSpec } = ts;
    return { taskSpec: withTaskDefaults(taskSpec), taskName: undefined, taskSource: undefined };
  }
  const ref = pt.taskRef!;
  if (ref.kind !== undefined && ref.kind !== 'Task') {
    if (ref.kind === 'ClusterTask') report([...here, 'taskRef', 'kind'], 'ClusterTask was removed in tekton.dev/v1; use a namespaced Task');
    else if (local) report([...here, 'taskRef', 'kind'], `custom task kind "${ref.kind}" is not supported by vouch run`);
    return undefined;
  }
  if (ref.apiVersion !== undefined) {
    if (local) report([...here, 'taskRef', 'apiVersion'], 'custom tasks (taskRef.apiVersion) are not supported by vouch run');
    return undefined;
  }
  if (ref.resolver !== undefined) {
    if (local) report([...here, 'taskRef', 'resolver'], `remote resolution (resolver "${ref.resolver}") is not supported by vouch run; put the Task in the tasks directory`);
    return undefined;
  }
  if (ref.params?.length) report([...here, 'taskRef', 'params'], 'taskRef.params can only be used with a resolver');
  if (ref.name === undefined || ref.name === '') {
    report([...here, 'taskRef', 'name'], 'invalid value: taskRef must specify name');
    return undefined;
  }
  if (!QUALIFIED_NAME.test(ref.name)) {
    report([...here, 'taskRef', 'name'], `invalid value: "${ref.name}" is not a valid name`);
    return undefined;
  }
  const found = resolveTask(ref.name);
  if (!found) {
    report([...here, 'taskRef', 'name'], `Task "${ref.name}" not found (taskRef resolves by metadata.name in the tasks directory)`);
    return undefined;
  }
  // the referenced Task must itself be valid; its problems point into its own file
  validateTask(found, { local });
  return { taskSpec: withTaskDefaults(found.resource.spec), taskName: ref.name, taskSource: found };
}

interface PipelineScope {
  report: Report;
  self: string;
  isFinally: boolean;
  dagNames: ReadonlySet<string>;
  finallyNames: ReadonlySet<string>;
  pipelineParams: ReadonlyMap<string, ParamSpec>;
  specsByTask: ReadonlyMap<string, TaskSpec>;
}

function checkPipelineRef(ref: Ref, path: FieldPath, value: string, place: 'string' | 'arrayItem' | 'paramValue', s: PipelineScope): void {
  const { report } = s;
  switch (ref.kind) {
    case 'param': {
      const declared = s.pipelineParams.get(ref.name);
      if (!declared) {
        report(path, `non-existent variable in "${value}": the Pipeline declares no param "${ref.name}"`);
        return;
      }
      const type = paramTypeOf(declared);
      const whole = ref.sel.kind === 'whole' || ref.sel.kind === 'star';
      if (type === 'string') {
        if (ref.sel.kind !== 'whole') report(path, `param "${ref.name}" is a string; only $(params.${ref.name}) applies`);
      } else if (type === 'array') {
        if (ref.sel.kind === 'key') report(path, `param "${ref.name}" is an array; use [*] or [index]`);
        else if (whole && place === 'string') report(path, `variable type invalid in "${value}": array param "${ref.name}" can only be used as a whole param value or array item`);
      } else {
        if (ref.sel.kind === 'index') report(path, `param "${ref.name}" is an object; use .key`);
        else if (whole && place !== 'paramValue') report(path, `variable type invalid in "${value}": the whole object param "${ref.name}" can only be a whole param value`);
        else if (ref.sel.kind === 'key' && declared.properties && !(ref.sel.key in declared.properties)) report(path, `non-existent variable in "${value}": object param "${ref.name}" has no key "${ref.sel.key}"`);
      }
      return;
    }
    case 'taskResult': {
      if (ref.scope === 'finally') {
        report(path, `"finally.${ref.task}.results.${ref.result}" can only be used in the Pipeline's results`);
        return;
      }
      if (s.finallyNames.has(ref.task)) {
        report(path, `invalid task result reference, final task has task result reference from a final task ${ref.task}`);
        return;
      }
      if (!s.dagNames.has(ref.task)) {
        report(path, `invalid task result reference: task "${ref.task}" is not defined in the pipeline's tasks`);
        return;
      }
      if (ref.task === s.self) {
        report(path, `invalid task result reference: task "${ref.task}" refers to its own result`);
        return;
      }
      const type = checkResultExists(ref, s.specsByTask.get(ref.task), path, report);
      if (type && type !== 'string' && (ref.sel.kind === 'whole' || ref.sel.kind === 'star') && place === 'string') {
        report(path, `variable type invalid in "${value}": ${type} result "${ref.result}" of task "${ref.task}" can only be used as a whole param value${type === 'array' ? ' or array item' : ''}`);
      }
      if (type === 'object' && ref.sel.kind === 'whole' && place === 'arrayItem') report(path, `object result "${ref.result}" cannot be an array item`);
      return;
    }
    case 'taskState':
      if (!s.isFinally) report(path, 'invalid value: pipeline tasks can not refer to execution status of any other pipeline task or aggregate status of tasks');
      else if (!s.dagNames.has(ref.task)) report(path, `invalid value: pipeline task ${ref.task} is not defined in the pipeline`);
      return;
    case 'aggregateStatus':
      if (!s.isFinally) report(path, 'invalid value: pipeline tasks can not refer to execution status of any other pipeline task or aggregate status of tasks');
      return;
    case 'context':
      if (!PIPELINE_CONTEXT.has(`${ref.scope}.${ref.attr}`)) report(path, `non-existent variable in "${value}": $(context.${ref.scope}.${ref.attr}) is not a Pipeline context variable`);
      return;
    case 'workspace':
      if (ref.attr !== 'bound') report(path, `non-existent variable in "${value}": a Pipeline can only use $(workspaces.${ref.name}.bound)`);
      return;
    case 'ownResult':
    case 'stepResult':
    case 'stepExitCode':
    case 'credentials':
    case 'other':
      return;
  }
}

/** Checks that a referenced result is declared (and the key/index form fits its type); returns its type if known. */
function checkResultExists(ref: Extract<Ref, { kind: 'taskResult' }>, spec: TaskSpec | undefined, path: FieldPath, report: Report): ParamType | undefined {
  if (!spec) return undefined; // the task itself could not be resolved; that is reported where it is declared
  const decl = (spec.results ?? []).find((r) => r.name === ref.result);
  if (!decl) {
    const known = (spec.results ?? []).map((r) => r.name);
    report(path, `invalid task result reference: task "${ref.task}" has no result "${ref.result}"${known.length ? ` (it declares ${known.join(', ')})` : ' (it declares none)'}`);
    return undefined;
  }
  const type = resultTypeOf(decl);
  if (type === 'string' && ref.sel.kind !== 'whole') report(path, `result "${ref.result}" of task "${ref.task}" is a string; it has no [*], [index] or .key`);
  if (type === 'array' && ref.sel.kind === 'key') report(path, `result "${ref.result}" of task "${ref.task}" is an array; use [*] or [index]`);
  if (type === 'object') {
    if (ref.sel.kind === 'index') report(path, `result "${ref.result}" of task "${ref.task}" is an object; use .key`);
    if (ref.sel.kind === 'key' && decl.properties && !(ref.sel.key in decl.properties)) report(path, `object result "${ref.result}" of task "${ref.task}" has no key "${ref.sel.key}"`);
  }
  return type;
}

/** The type a param value will have once substituted (an isolated whole array/object reference changes it). */
function effectiveValueType(v: ParamValue, pipelineParams: ReadonlyMap<string, ParamSpec>, specsByTask: ReadonlyMap<string, TaskSpec>): ParamType | undefined {
  if (typeof v !== 'string') return valueType(v);
  const occ = isolated(v);
  if (!occ) return 'string';
  const ref = occ.ref;
  if (ref.kind === 'param') {
    const d = pipelineParams.get(ref.name);
    if (!d) return undefined;
    const t = paramTypeOf(d);
    return ref.sel.kind === 'whole' || ref.sel.kind === 'star' ? t : 'string';
  }
  if (ref.kind === 'taskResult') {
    const decl = specsByTask.get(ref.task)?.results?.find((r) => r.name === ref.result);
    if (!decl) return undefined;
    const t = resultTypeOf(decl);
    return ref.sel.kind === 'whole' || ref.sel.kind === 'star' ? t : 'string';
  }
  return 'string';
}

/** Params and workspaces a pipeline task passes, against what its Task declares (Tekton checks these at run time). */
function checkTaskBinding(
  pt: PipelineTask,
  spec: TaskSpec,
  here: FieldPath,
  report: Report,
  pipelineParams: ReadonlyMap<string, ParamSpec>,
  specsByTask: ReadonlyMap<string, TaskSpec>,
  pipelineWorkspaces: ReadonlySet<string>,
): void {
  const given = new Map((pt.params ?? []).map((p, i) => [p.name, { p, i }]));
  // a matrix fans its array params out into one value per TaskRun (Tekton counts them as given)
  const fromMatrix = new Set([...(pt.matrix?.params ?? []), ...(pt.matrix?.include ?? []).flatMap((inc) => inc.params)].map((p) => p.name));
  for (const decl of spec.params ?? []) {
    const g = given.get(decl.name);
    const type = paramTypeOf(decl);
    if (!g) {
      if (decl.default === undefined && !fromMatrix.has(decl.name)) report([...here, 'params'], `missing param "${decl.name}" (declared by the Task without a default)`);
      continue;
    }
    if (g.p.value === undefined || g.p.value === null) continue;
    const actual = effectiveValueType(g.p.value, pipelineParams, specsByTask);
    if (actual !== undefined && actual !== type) {
      report([...here, 'params', g.i, 'value'], `param types don't match the user-specified type: "${decl.name}" is declared ${type} but is given ${actual === 'array' ? 'an array' : `a ${actual}`}`);
      continue;
    }
    if (type === 'object' && typeof g.p.value === 'object' && !Array.isArray(g.p.value) && decl.properties) {
      const def = typeof decl.default === 'object' && !Array.isArray(decl.default) ? decl.default : {};
      for (const k of Object.keys(decl.properties)) {
        if (!(k in g.p.value) && !(k in def)) report([...here, 'params', g.i, 'value'], `object param "${decl.name}" misses key "${k}"`);
      }
    }
    if (decl.enum && typeof g.p.value === 'string' && !occurrences(g.p.value).length && !decl.enum.includes(g.p.value)) {
      report([...here, 'params', g.i, 'value'], `param "${decl.name}" value "${g.p.value}" is not in the enum [${decl.enum.join(', ')}]`);
    }
  }
  // workspaces
  const declared = new Map((spec.workspaces ?? []).map((w) => [w.name, w]));
  const bound = new Set<string>();
  (pt.workspaces ?? []).forEach((w, j) => {
    if (bound.has(w.name)) report([...here, 'workspaces', j, 'name'], `workspace name "${w.name}" must be unique`);
    bound.add(w.name);
    const target = w.workspace ?? w.name;
    if (!pipelineWorkspaces.has(target)) {
      report([...here, 'workspaces', j, w.workspace !== undefined ? 'workspace' : 'name'], `pipeline task "${pt.name}" expects workspace with name "${target}" but none exists in pipeline spec`);
    }
    if (!declared.has(w.name)) report([...here, 'workspaces', j, 'name'], `the Task declares no workspace "${w.name}"`);
  });
  for (const [name, d] of declared) {
    if (!d.optional && !bound.has(name)) report([...here, 'workspaces'], `workspace "${name}" is required by the Task but pipeline task "${pt.name}" does not bind it`);
  }
}

// ---- pipeline runs -----------------------------------------------------------------------------------------------

const RUN_STATUSES = new Set(['Cancelled', 'CancelledRunFinally', 'StoppedRunFinally', 'PipelineRunPending']);
/** Tekton's default-timeout-minutes (config-defaults): 60 */
const DEFAULT_TIMEOUT_MS = 60 * 60_000;

/** Workspace binding kinds that need a cluster; a local run binds a directory instead (-w NAME=DIR). */
const LOCALLY_UNAVAILABLE_BINDINGS = ['persistentVolumeClaim', 'configMap', 'secret', 'projected', 'csi'] as const;

export interface PipelineRunValidation extends ValidateOptions {
  /** workspaces bound to a directory on the command line (-w), whatever the run's own binding says */
  locallyBound?: ReadonlySet<string>;
  resolveTask: TaskResolver;
  /** needed when the run uses pipelineRef */
  resolvePipeline?: PipelineResolver;
}

/**
 * Validates a PipelineRun with its Pipeline (pipelineRef or embedded pipelineSpec) and Tasks: everything
 * validatePipeline checks, plus the run's params (required ones given, types matching) and workspaces (required
 * ones bound), timeouts and status. Problems in the Pipeline file point into that file.
 */
export function validatePipelineRun(loaded: Loaded<PipelineRun>, v: PipelineRunValidation): ValidatedPipelineRun {
  const problems = new ProblemList();
  const local = v.local ?? true;
  const structuredRun = structured(loaded.resource, 'PipelineRun', reporter(loaded, problems));
  const pr = structuredRun.subject;
  const report = structuredRun.report;
  checkMetadataName(pr.metadata, report, true);
  if (!isObject(pr.spec)) {
    report(['spec'], 'missing field(s): spec');
    problems.throwIfAny();
  }
  const spec = pr.spec;
  checkParamList(spec.params, ['spec', 'params'], report);

  let pipeline: ValidatedPipeline | undefined;
  let pipelineSource: Loaded<Pipeline> | undefined;
  if (spec.pipelineRef && spec.pipelineSpec) report(['spec'], 'expected exactly one, got both: pipelineRef, pipelineSpec');
  else if (!spec.pipelineRef && !spec.pipelineSpec) report(['spec'], 'expected exactly one, got neither: pipelineRef, pipelineSpec');
  else if (spec.pipelineSpec) {
    pipeline = checkPipelineSpec(spec.pipelineSpec, ['spec', 'pipelineSpec'], report, v.resolveTask, local, undefined, true);
  } else {
    const ref = spec.pipelineRef!;
    if (ref.resolver !== undefined) {
      if (local) report(['spec', 'pipelineRef', 'resolver'], `remote resolution (resolver "${ref.resolver}") is not supported by vouch run`);
    } else if (ref.name === undefined || ref.name === '') {
      report(['spec', 'pipelineRef', 'name'], 'missing field(s): pipelineRef.name');
    } else {
      pipelineSource = v.resolvePipeline?.(ref.name);
      if (!pipelineSource) report(['spec', 'pipelineRef', 'name'], `Pipeline "${ref.name}" not found`);
      else {
        try {
          pipeline = validatePipeline(pipelineSource, v.resolveTask, { local });
        } catch (err) {
          const listed = (err as { details?: { problems?: ProblemList['items'] } }).details?.problems;
          if (!listed) throw err;
          problems.items.push(...listed);
        }
      }
    }
  }

  // timeouts (PipelineRunSpec.validatePipelineTimeout): tasks and finally within pipeline (default 60m when
  // unset); 0 means no timeout, which tasks/finally cannot have under a finite pipeline timeout
  const t = spec.timeouts;
  if (t) {
    const ms: Partial<Record<'pipeline' | 'tasks' | 'finally', number>> = {};
    for (const k of ['pipeline', 'tasks', 'finally'] as const) {
      const s = t[k];
      if (s === undefined) continue;
      const d = parseDuration(s);
      if (d === undefined) report(['spec', 'timeouts', k], `invalid value: "${s}" is not a duration (Go format, e.g. 1h0m0s)`);
      else if (d < 0) report(['spec', 'timeouts', k], `invalid value: ${formatDuration(d)} should be >= 0`);
      else ms[k] = d;
    }
    const limit = ms.pipeline ?? (t.pipeline === undefined ? DEFAULT_TIMEOUT_MS : undefined);
    const what = t.pipeline === undefined ? 'should be <= default timeout duration' : 'should be <= pipeline duration';
    if (limit !== undefined && limit > 0) {
      for (const k of ['tasks', 'finally'] as const) {
        const d = ms[k];
        if (d === undefined) continue;
        if (d > limit) report(['spec', 'timeouts', k], `invalid value: ${formatDuration(d)} ${what}`);
        else if (d === 0) report(['spec', 'timeouts', k], `invalid value: 0s (no timeout) ${what}`);
      }
      if (ms.tasks !== undefined && ms.finally !== undefined && ms.tasks + ms.finally > limit) {
        for (const k of ['tasks', 'finally'] as const) report(['spec', 'timeouts', k], `invalid value: ${formatDuration(ms.tasks)} + ${formatDuration(ms.finally)} ${what}`);
      }
    }
  }
  if (spec.status !== undefined && !RUN_STATUSES.has(spec.status)) report(['spec', 'status'], `invalid value: ${spec.status} (one of ${[...RUN_STATUSES].join(', ')})`);

  let params: Record<string, ParamValue> = {};
  if (pipeline) {
    const declared = new Map((pipeline.spec.params ?? []).map((p) => [p.name, p]));
    const given = new Map((spec.params ?? []).map((p, i) => [p.name, { p, i }]));
    const missing = [...declared.values()].filter((d) => d.default === undefined && !given.has(d.name)).map((d) => d.name);
    if (missing.length) report(['spec', 'params'], `PipelineRun missing parameters: ${missing.join(', ')}`);
    for (const [name, { p, i }] of given) {
      const d = declared.get(name);
      if (!d || p.value === undefined || p.value === null) continue;
      const want = paramTypeOf(d);
      if (valueType(p.value) !== want) report(['spec', 'params', i, 'value'], `param types don't match the user-specified type: "${name}" is declared ${want}`);
      else if (d.enum && typeof p.value === 'string' && !d.enum.includes(p.value)) report(['spec', 'params', i, 'value'], `param "${name}" value "${p.value}" is not in the enum [${d.enum.join(', ')}]`);
      else if (want === 'object' && d.properties && typeof p.value === 'object' && !Array.isArray(p.value)) {
        const def = typeof d.default === 'object' && !Array.isArray(d.default) ? d.default : {};
        for (const k of Object.keys(d.properties)) if (!(k in p.value) && !(k in def)) report(['spec', 'params', i, 'value'], `object param "${name}" misses key "${k}"`);
      }
    }
    const bound = new Set<string>();
    (spec.workspaces ?? []).forEach((w, i) => {
      if (bound.has(w.name)) report(['spec', 'workspaces', i, 'name'], `workspace "${w.name}" is bound more than once`);
      bound.add(w.name);
      if (!local || v.locallyBound?.has(w.name)) return;
      for (const kind of LOCALLY_UNAVAILABLE_BINDINGS) {
        if (w[kind] !== undefined) report(['spec', 'workspaces', i, kind], `${kind} bindings are not available to vouch run; bind a directory with -w ${w.name}=DIR`);
      }
    });
    for (const w of pipeline.spec.workspaces ?? []) {
      if (!w.optional && !bound.has(w.name)) report(['spec', 'workspaces'], `pipeline requires workspace with name "${w.name}" be provided by pipelinerun`);
    }
    const taskNames = new Set([...pipeline.tasks, ...pipeline.finally].map((r) => r.pipelineTask.name));
    (spec.taskRunSpecs ?? []).forEach((trs, i) => {
      const n = trs['pipelineTaskName'];
      if (typeof n !== 'string' || !taskNames.has(n)) report(['spec', 'taskRunSpecs', i, 'pipelineTaskName'], `taskRunSpecs refers to pipeline task ${JSON.stringify(n ?? null)} that the Pipeline does not have`);
    });
    if (problems.empty) {
      try {
        params = resolvePipelineParams(pipeline.spec.params, spec.params);
      } catch (err) {
        report(['spec', 'params'], err instanceof Error ? err.message : String(err));
      }
    }
  }
  problems.throwIfAny();
  return { pipeline: pipeline!, pipelineSource, params };
}

// ---- task runs ---------------------------------------------------------------------------------------------------

export interface ValidatedTaskRun {
  /** the Task spec to run (referenced or embedded), with defaults */
  taskSpec: TaskSpec;
  /** metadata.name of the referenced Task; undefined for an embedded taskSpec */
  taskName: string | undefined;
  taskSource: Loaded<Task> | undefined;
}

const TASK_RUN_STATUSES = new Set(['TaskRunCancelled']);

/**
 * Validates a TaskRun with its Task (taskRef resolved with `resolveTask`, or embedded taskSpec): the TaskRun's
 * fields, then what Tekton checks when it starts the run (required params given with matching types, object keys,
 * enums; workspace bindings matching the Task's declarations; timeout).
 */
export function validateTaskRun(loaded: Loaded<TaskRun>, resolveTask: TaskResolver, options: ValidateOptions = {}): ValidatedTaskRun {
  const problems = new ProblemList();
  const local = options.local ?? true;
  const { subject: tr, report } = structured(loaded.resource, 'TaskRun', reporter(loaded, problems));
  checkMetadataName(tr.metadata, report, true);
  if (!isObject(tr.spec)) {
    report(['spec'], 'missing field(s): spec');
    problems.throwIfAny();
  }
  const spec = tr.spec;
  checkParamList(spec.params, ['spec', 'params'], report);
  if (spec.timeout !== undefined) {
    const d = parseDuration(spec.timeout);
    if (d === undefined) report(['spec', 'timeout'], `invalid value: "${spec.timeout}" is not a duration (Go format, e.g. 1h0m0s)`);
    else if (d < 0) report(['spec', 'timeout'], `invalid value: ${formatDuration(d)} should be >= 0`);
  }
  if (spec.retries !== undefined && spec.retries < 0) report(['spec', 'retries'], `invalid value: ${spec.retries} (retries must be >= 0)`);
  if (spec.status !== undefined && !TASK_RUN_STATUSES.has(spec.status)) report(['spec', 'status'], `invalid value: ${spec.status} should be TaskRunCancelled`);

  const asTask: PipelineTask = { name: tr.metadata?.name ?? 'taskrun', ...(spec.taskRef ? { taskRef: spec.taskRef } : {}), ...(spec.taskSpec ? { taskSpec: spec.taskSpec } : {}) };
  const resolved = resolvePipelineTaskSpec(asTask, ['spec'], report, resolveTask, local, new Map());
  if (resolved && spec.taskSpec) checkTaskSpec(spec.taskSpec, { at: ['spec', 'taskSpec'], report, local });
  if (resolved) {
    const ts = resolved.taskSpec;
    const given = new Map((spec.params ?? []).map((p, i) => [p.name, { p, i }]));
    const missing = (ts.params ?? []).filter((d) => d.default === undefined && !given.has(d.name)).map((d) => d.name);
    if (missing.length) report(['spec', 'params'], `missing parameters: ${missing.join(', ')}`);
    for (const d of ts.params ?? []) {
      const g = given.get(d.name);
      if (!g || g.p.value === undefined || g.p.value === null) continue;
      const want = paramTypeOf(d);
      const here = ['spec', 'params', g.i, 'value'];
      if (valueType(g.p.value) !== want) report(here, `param types don't match the user-specified type: "${d.name}" is declared ${want}`);
      else if (d.enum && typeof g.p.value === 'string' && !d.enum.includes(g.p.value)) report(here, `param "${d.name}" value "${g.p.value}" is not in the enum [${d.enum.join(', ')}]`);
      else if (want === 'object' && d.properties && typeof g.p.value === 'object' && !Array.isArray(g.p.value)) {
        const def = typeof d.default === 'object' && !Array.isArray(d.default) ? d.default : {};
        for (const k of Object.keys(d.properties)) if (!(k in g.p.value) && !(k in def)) report(here, `object param "${d.name}" misses key "${k}"`);
      }
    }
    const declared = new Map((ts.workspaces ?? []).map((w) => [w.name, w]));
    const bound = new Set<string>();
    (spec.workspaces ?? []).forEach((w, i) => {
      if (bound.has(w.name)) report(['spec', 'workspaces', i, 'name'], `workspace "${w.name}" is bound more than once`);
      bound.add(w.name);
      if (!declared.has(w.name)) report(['spec', 'workspaces', i, 'name'], `workspace binding "${w.name}" does not match any declared workspace`);
    });
    for (const [name, d] of declared) if (!d.optional && !bound.has(name)) report(['spec', 'workspaces'], `declared workspace "${name}" is required but has not been bound`);
  }
  problems.throwIfAny();
  return { taskSpec: resolved!.taskSpec, taskName: resolved!.taskName, taskSource: resolved!.taskSource };
}
