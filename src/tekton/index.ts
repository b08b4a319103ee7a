// The Tekton Pipelines v1 model: the public API of src/tekton (room `tekton`; used by runner, stages, sidecar).
//
// Typical use by the runner:
//   const tasks = await loadTasksDir('tasks');                       // Map<name, Loaded<Task>>
//   const [run] = await loadFile('run.yaml');                        // Loaded (kind, resource, locate)
//   const v = validatePipelineRun(run as Loaded<PipelineRun>, { resolveTask: (n) => tasks.get(n),
//                                                             resolvePipeline: (n) => pipelines.get(n) });
//   // v.pipeline.tasks[i].taskSpec, v.pipeline.dag, v.params are ready; nothing has run yet.
//   const pt = resolvePipelineTask(rt.pipelineTask, { params: v.params, context, taskResults });
//   const spec = substituteTaskSpec(rt.taskSpec, { params: pt.params, context, workspaces, resultsDir });
//   const results = await readStepResults(resultsDir, spec.results, { taskName, stepName, startedAt });
//   const data = eventData(taskRun); const attrs = eventAttributes(taskRun);
//
// Errors: bad YAML throws VouchError TEKTON_INVALID whose message starts with `file:line:col: <field path>: ` and lists
// every problem (details.problems: {file, line, col, path, message}[]); a result breaking Tekton's rules throws
// TEKTON_RESULT_INVALID; a substitution Tekton could not make throws TEKTON_SUBSTITUTION_FAILED.

export * from './types.ts';

/** A field path such as ['spec', 'tasks', 0, 'name'] and the problems validation reports. */
export { formatPath, type FieldPath, type Problem } from './problems.ts';

/**
 * loadFile(path): every document of a YAML file as Loaded (kind, resource converted to v1, file, index,
 * sourceApiVersion, locate(path) -> "file:line:col", position(path)). loadText(text, file) does the same for text.
 * loadTasksDir(dir): all Tasks in dir/*.yaml|yml by metadata.name (other kinds skipped; duplicate names rejected).
 */
export { loadFile, loadText, loadTasksDir, displayPath, type Loaded, type Position } from './load.ts';

/**
 * validateTask(loaded, {local}) -> TaskSpec with defaults; validatePipeline(loaded, resolveTask, {local}) ->
 * ValidatedPipeline {name, spec, tasks[], finally[], dag} where each task carries its resolved taskSpec and taskName;
 * validatePipelineRun(loaded, {resolveTask, resolvePipeline?, local}) -> {pipeline, pipelineSource, params};
 * validateTaskRun(loaded, resolveTask, {local}) -> {taskSpec, taskName, taskSource}.
 * `local` (default true) also refuses what `vouch run` cannot execute (sidecars, matrix, resolvers, CEL, ...).
 * paramTypeOf / resultTypeOf / valueType: Tekton's type defaulting.
 */
export {
  validateTask,
  validatePipeline,
  validatePipelineRun,
  validateTaskRun,
  withTaskDefaults,
  paramTypeOf,
  resultTypeOf,
  valueType,
  type ValidateOptions,
  type TaskResolver,
  type PipelineResolver,
  type ResolvedPipelineTask,
  type ValidatedPipeline,
  type ValidatedPipelineRun,
  type PipelineRunValidation,
  type ValidatedTaskRun,
} from './validate.ts';

/**
 * Tekton's substitution. substituteTaskSpec(spec, {params, context, workspaces, resultsDir, stepResultsDir}) -> new
 * TaskSpec (passes: params, context, workspaces, result paths). resolvePipelineParams(declared, given) -> param
 * values with defaults (defaults may refer to params). resolvePipelineTask(pt, {params, context, taskResults,
 * workspacesBound, taskStates, aggregateStatus}) -> PipelineTask with params/when/taskRef substituted and params
 * propagated into an embedded taskSpec. referencesIn(pt) -> every Ref in a pipeline task. effectiveParams(declared,
 * given) -> a Task's param values. Lower level: substituteString, substituteArrayItem, substituteParamValue,
 * substituteWhen, applyToTaskSpec, lookup with a Replacements table.
 */
export {
  substituteTaskSpec,
  resolvePipelineParams,
  resolvePipelineTask,
  referencesIn,
  effectiveParams,
  substituteString,
  substituteArrayItem,
  substituteArray,
  substituteParamValue,
  substituteParams,
  substituteWhen,
  substituteStep,
  applyToTaskSpec,
  taskSpecStrings,
  lookup,
  type Replacements,
  type TaskSubstitution,
  type PipelineTaskSubstitution,
} from './substitute.ts';

/** parseExpression(text inside $( )) -> Ref; occurrences(s) -> every $(...) in s; isolated(s) -> the one ref s is. */
export { parseExpression, occurrences, isolated, type Ref, type Selector, type Occurrence } from './refs.ts';

/**
 * buildDag(tasks) -> Dag {names, parents, children} from runAfter and result refs; findCycle(dag) -> [a, b, a] or
 * undefined; readyTasks(dag, done, started) -> names that can start; descendants(dag, name); topologicalOrder(dag);
 * dependenciesOf(pt).
 */
export { buildDag, findCycle, readyTasks, descendants, topologicalOrder, dependenciesOf, type Dag } from './dag.ts';

/** parseDuration("1h30m") -> ms (Go time.ParseDuration syntax) or undefined; formatDuration(ms) -> "1h30m0s". */
export { parseDuration, formatDuration } from './duration.ts';

/**
 * Results: readStepResults(dir, declared, {taskName, stepName, startedAt, exitCode?}) -> TaskRunResult[] after a
 * step (size limit 4096 bytes per step's termination message, types checked; values verbatim, no trimming);
 * toTaskRunResult(raw, declared, taskName); parseResultText(raw); terminationMessage(...); TEKTON_RESULTS_DIR.
 */
export {
  readStepResults,
  toTaskRunResult,
  parseResultText,
  terminationMessage,
  goJson,
  TEKTON_RESULTS_DIR,
  MAX_TERMINATION_MESSAGE_BYTES,
  type StepResultsOptions,
} from './results.ts';

/**
 * CloudEvents: TektonEventType names; eventTypeFor(run) from its Succeeded condition; eventAttributes(run,
 * {type?, withTypeMeta?}) -> {specversion, id, type, source, subject, time, datacontenttype}; eventData(run) ->
 * {taskRun} | {pipelineRun} in v1beta1 layout; toV1beta1TaskRun / toV1beta1PipelineRun. Ingest (sidecar):
 * parseEventData(untrusted data) -> v1 TaskRun | PipelineRun (INPUT_INVALID if malformed); fromV1beta1TaskRun /
 * fromV1beta1PipelineRun.
 */
export {
  TektonEventType,
  eventTypeFor,
  eventAttributes,
  eventData,
  toV1beta1TaskRun,
  toV1beta1PipelineRun,
  parseEventData,
  fromV1beta1TaskRun,
  fromV1beta1PipelineRun,
  type TektonEventAttributes,
} from './events.ts';
