// The local Tekton executor: the public API of src/runner (room `runner`; used by cli).
//
// Typical use (what `vouch run` does; the embedded demo can do the same with an in-process sink):
//   const outcome = await runLocal({
//     pipelineFile: 'pipelines/agent-pr-verify.yaml', tasksDir: 'tasks', params: ['revision=abc'],
//     runDir: '.vouch/runs/x', sinks: [sidecarIngest],              // anything with send(CloudEvent): Promise<void>
//     images: { taskImage: 'ghcr.io/vouch-dev/vouch', hostImages: [] },
//   });
//   outcome.succeeded; outcome.pipelineRun; outcome.taskRuns   // Tekton v1 objects, as written under runDir
//
// Run directory: pipelinerun.json, taskruns/<taskrun>.json, logs/<pipelineTask>/<step>.log (earlier attempts of a
// retried task: <step>.attempt-<n>.log), workspaces/<name>/ (workspaces not bound with -w), work/<taskrun>/ (results,
// home, scripts), bin/vouch (the shim steps of vouch's task image run).
//
// Steps: image `ghcr.io/vouch-dev/vouch[:tag][@digest]` (config runner.taskImage) runs the local vouch CLI (command
// absent: args go to vouch; `vouch` as command is the local CLI; scripts find `vouch` on PATH); images matching
// hostImages globs run with host tools; any other image is refused before the run. `$(workspaces.w.path)` and
// `$(results.r.path)` are host paths (bound at the same path inside the sandbox).
//
// Errors before anything runs: TEKTON_INVALID (file:line:col), STEP_IMAGE_REFUSED, RUN_UNSUPPORTED, USAGE;
// SANDBOX_UNAVAILABLE when bubblewrap cannot run (sandbox.enabled false is `--no-sandbox`).

import { PipelineRunExecutor, type ExecutorOptions, type RunOutcome } from './executor.ts';
import { cloudEventFor } from './events.ts';
import { planRun, type PlanInput } from './plan.ts';

export { runPipeline, PipelineRunExecutor, DEFAULT_TIMEOUT_MS, type ExecutorOptions, type RunOutcome, type EventFactory } from './executor.ts';
export { planRun, parseParamFlags, parseWorkspaceFlags, type Plan, type PlanInput } from './plan.ts';
export { cloudEventFor, EventQueue, HttpSink, MemorySink, RETRYABLE_STATUSES, type EventSink, type HttpSinkOptions, type DrainResult } from './events.ts';
export { preflightSandbox, runStepProcess, defaultHiddenPaths, bwrapArgs, DEFAULT_PATH, CREDENTIAL_PATHS, SYSTEM_SECRET_PATHS, type SandboxOptions, type StepProcessSpec, type StepProcessOutcome } from './sandbox.ts';
export { classifyImage, imageRepository, matchesImagePattern, type ImageKind, type ImagePolicy } from './images.ts';
export { JsonView, PlainView, TerminalView, type RunView, type TransitionRecord, type TaskState } from './view.ts';

export type RunLocalOptions = PlanInput & Omit<ExecutorOptions, 'pipelineRun' | 'pipeline' | 'pipelineName' | 'workspaceDirs' | 'eventFactory' | 'sandbox'> & {
  /** default: enabled, hiding nothing extra */
  sandbox?: ExecutorOptions['sandbox'];
};

/** Plans (loads, validates) and runs a PipelineRun; every problem with the input is thrown before a step runs. */
export async function runLocal(options: RunLocalOptions): Promise<RunOutcome & { pipelineRunName: string }> {
  const plan = await planRun(options);
  const executor = new PipelineRunExecutor({
    ...options,
    pipelineRun: plan.pipelineRun,
    pipeline: plan.validated.pipeline,
    pipelineName: plan.pipelineName,
    ...(plan.validated.pipelineSource ? { pipelineFile: plan.validated.pipelineSource.file } : {}),
    workspaceDirs: plan.workspaceDirs,
    eventFactory: cloudEventFor,
    sandbox: options.sandbox ?? { enabled: true },
  });
  const outcome = await executor.run();
  return { ...outcome, pipelineRunName: plan.pipelineRun.metadata.name! };
}
