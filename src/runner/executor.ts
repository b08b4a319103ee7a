// The local PipelineRun executor: Tekton's PipelineRun and TaskRun reconcilers' semantics on one machine.
// - Scheduling as pkg/reconciler/pipelinerun/resources: a DAG task starts when all its parents succeeded or were
//   skipped; a failure (or cancellation) makes the run "stopping" (no new DAG task starts, the rest are skipped with
//   "PipelineRun was stopping"); a skipped parent skips its children unless it was skipped by its own `when`
//   (then only children that need its results are skipped, "Results were missing"); `finally` tasks run once every
//   DAG task is done and see `$(tasks.status)` / `$(tasks.T.status)`.
// - TaskRuns as the TaskRun reconciler: steps in order, a failing step skips the rest unless `onError: continue`,
//   results read from files, retries recorded in status.retriesStatus with pods named `-retry<N>`, timeouts per
//   step, per TaskRun, and for the PipelineRun's tasks/finally/pipeline budgets.
// Every condition change is written to the run directory, reported to the view and sent as Tekton's CloudEvent.
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { CloudEvent } from 'cloudevents';
import { VouchError, errorMessage } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import type { Dag } from '../tekton/dag.ts';
import type { ResolvedPipelineTask, ValidatedPipeline } from '../tekton/validate.ts';
import { formatDuration as goDuration, parseDuration } from '../tekton/duration.ts';
import { resolvePipelineParams, resolvePipelineTask, substituteParamValue, substituteTaskSpec } from '../tekton/substitute.ts';
import { occurrences } from '../tekton/refs.ts';
import {
  Labels,
  SkippingReason,
  type ChildStatusReference,
  type ParamValue,
  type PipelineRun,
  type RefSource,
  type PipelineRunResult,
  type PipelineTask,
  type Step,
  type StepState,
  type TaskRef,
  type TaskRun,
  type TaskRunResult,
  type TaskSpec,
  type WhenExpression,
  type WorkspaceBinding,
} from '../tekton/types.ts';
import { classifyImage, imageRepository, type ImagePolicy } from './images.ts';
import { FAILURE_IGNORED, Messages, fileRefSource, NAMESPACE, PIPELINE_RUN_STOPPING, PipelineRunReason, SERVICE_ACCOUNT, TaskRunReason, condition, getCondition, newTaskRun, now, setCondition, storedPipelineSpec } from './objects.ts';
import { readStepResults } from '../tekton/results.ts';
import { preflightSandbox, runStepProcess, type SandboxOptions } from './sandbox.ts';
import { EventQueue, type DrainResult, type EventSink } from './events.ts';
import { mergeStepTemplate, stepCommand, writeVouchShim } from './steps.ts';
import type { RunView, TaskState, TransitionRecord } from './view.ts';

/** Tekton's default timeout (config-defaults default-timeout-minutes: 60). */
export const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000;

/** Builds the CloudEvent Tekton's events controller would send for this object's current condition. */
export type EventFactory = (obj: TaskRun | PipelineRun) => CloudEvent<unknown> | undefined;

export interface ExecutorOptions {
  /** the PipelineRun as submitted (name set; spec.params, spec.workspaces, spec.timeouts as given) */
  pipelineRun: PipelineRun;
  /** the Pipeline, validated with its Tasks (tekton/validate.ts) */
  pipeline: ValidatedPipeline;
  /** metadata.name of the Pipeline (context.pipeline.name, label tekton.dev/pipeline) */
  pipelineName: string;
  /** the Pipeline's file when the run uses pipelineRef (recorded as status.provenance.refSource) */
  pipelineFile?: string;
  /** labels/annotations of referenced Tasks, propagated to their TaskRuns as Tekton does */
  taskMetadata?: ReadonlyMap<string, { labels?: Record<string, string>; annotations?: Record<string, string> }>;
  runDir: string;
  /** `-w name=DIR`: host directories bound to pipeline workspaces */
  workspaceDirs?: Readonly<Record<string, string>>;
  images: ImagePolicy;
  /** pipeline task names whose steps may use the network */
  allowNetwork?: readonly string[];
  sandbox: SandboxOptions;
  sinks?: EventSink[];
  eventFactory?: EventFactory;
  view?: RunView;
  signal?: AbortSignal;
  /** how long to wait for undelivered events once the run is over */
  eventDrainMs?: number;
  onStepOutput?: (pipelineTask: string, step: string, chunk: string) => void;
}

export interface RunOutcome {
  pipelineRun: PipelineRun;
  taskRuns: TaskRun[];
  succeeded: boolean;
  events: DrainResult;
}

type NodeState = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

interface Node {
  pt: PipelineTask;
  isFinally: boolean;
  spec: TaskSpec;
  taskName?: string;
  taskRef?: TaskRef;
  taskMeta?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  refSource?: RefSource;
  state: NodeState;
  /** failure that Tekton would not retry or count as a plain failure */
  skipReason?: SkippingReason;
  resolvedWhen?: WhenExpression[];
  taskRun?: TaskRun;
  results: Record<string, ParamValue>;
  /** TaskRun failed but the pipeline task has `onError: continue` */
  continued?: boolean;
  timedOut?: boolean;
  /** cancelled because a timeout of the PipelineRun ran out (Tekton counts these as failed) */
  cancelledForTimeout?: boolean;
  /** when the current attempt started (ms), for durations finer than Tekton's second-precision times */
  attemptStartMs?: number;
  abort?: AbortController;
}

function whenAllows(when: readonly WhenExpression[] | undefined): boolean {
  for (const w of when ?? []) {
    const found = (w.values ?? []).includes(w.input ?? '');
    if ((w.operator ?? 'in') === 'in' ? !found : found) return false;
  }
  return true;
}

function hasUnresolved(s: string | undefined): boolean {
  return s !== undefined && occurrences(s).length > 0;
}

function writeJson(file: string, value: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

function timeoutMsOf(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = parseDuration(value);
  if (ms === undefined || ms < 0) throw new VouchError('INPUT_INVALID', `${what}: ${JSON.stringify(value)} is not a duration (e.g. 1h0m0s, 90s, 0 for none)`);
  return ms;
}

export class PipelineRunExecutor {
  readonly #o: ExecutorOptions;
  readonly #pr: PipelineRun;
  readonly #nodes = new Map<string, Node>();
  readonly #dagNodes: Node[] = [];
  readonly #finallyNodes: Node[] = [];
  readonly #dag: Dag;
  readonly #queue: EventQueue;
  readonly #params: Record<string, ParamValue>;
  readonly #workspaces = new Map<string, string | undefined>();
  /** pipeline workspaces bound with emptyDir: a fresh directory for every TaskRun attempt, as a pod's emptyDir */
  readonly #perTaskRun = new Set<string>();
  readonly #bindings = new Map<string, WorkspaceBinding>();
  readonly #log = logger('runner');
  readonly #runDir: string;
  readonly #shimDir: string;
  #startMs = 0;
  #finallyStartMs: number | undefined;
  #cancelled = false;
  #timedOut: 'pipeline' | 'tasks' | 'finally' | undefined;
  #invalidResultRef: string | undefined;
  #finallyStarted = false;
  #wake: (() => void) | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #dirty = new Map<string, unknown>();
  #flushScheduled = false;
  readonly #timeouts: { pipeline: number; tasks: number | undefined; finally: number | undefined };

  constructor(options: ExecutorOptions) {
    this.#o = options;
    this.#pr = completeMetadata(structuredClone(options.pipelineRun), options.pipelineName);
    this.#runDir = resolve(options.runDir);
    this.#shimDir = join(this.#runDir, 'bin');
    const spec = options.pipeline.spec;
    for (const [list, isFinally] of [[options.pipeline.tasks, false], [options.pipeline.finally, true]] as const) {
      for (const rpt of list) {
        const node = this.#resolveNode(rpt, isFinally);
        this.#nodes.set(rpt.pipelineTask.name, node);
        (isFinally ? this.#finallyNodes : this.#dagNodes).push(node);
      }
    }
    this.#dag = options.pipeline.dag;
    const declared = new Set((spec.workspaces ?? []).map((w) => w.name));
    for (const name of Object.keys(options.workspaceDirs ?? {})) {
      if (!declared.has(name)) throw new VouchError('USAGE', `-w ${name}=…: the pipeline declares no workspace "${name}" (declared: ${[...declared].join(', ') || 'none'})`);
    }
    if (this.#pr.spec.status !== undefined) {
      throw new VouchError('RUN_UNSUPPORTED', `spec.status ${this.#pr.spec.status}: a local run starts when it is submitted; remove spec.status to run it`);
    }
    this.#params = resolvePipelineParams(spec.params, this.#pr.spec.params);
    const t = this.#pr.spec.timeouts ?? {};
    const pipeline = timeoutMsOf(t.pipeline, 'spec.timeouts.pipeline') ?? DEFAULT_TIMEOUT_MS;
    this.#timeouts = { pipeline, tasks: timeoutMsOf(t.tasks, 'spec.timeouts.tasks'), finally: timeoutMsOf(t.finally, 'spec.timeouts.finally') };
    this.#checkImages();
    this.#queue = new EventQueue(options.sinks ?? []);
  }

  #resolveNode(rpt: ResolvedPipelineTask, isFinally: boolean): Node {
    const pt = rpt.pipelineTask;
    const node: Node = { pt, isFinally, state: 'pending', results: {}, spec: rpt.taskSpec };
    if (rpt.taskName !== undefined) {
      if (pt.taskRef?.kind !== undefined && pt.taskRef.kind !== 'Task') {
        throw new VouchError('RUN_UNSUPPORTED', `pipeline task "${pt.name}": taskRef.kind ${pt.taskRef.kind} is not supported locally (only Task)`);
      }
      node.taskName = rpt.taskName;
      node.taskRef = { name: rpt.taskName, kind: 'Task' };
      if (rpt.taskSource) node.refSource = fileRefSource(rpt.taskSource.file);
      const meta = this.#o.taskMetadata?.get(rpt.taskName) ?? rpt.taskSource?.resource.metadata;
      if (meta) node.taskMeta = { ...(meta.labels ? { labels: meta.labels } : {}), ...(meta.annotations ? { annotations: meta.annotations } : {}) };
    } else if (pt.taskSpec?.metadata) {
      node.taskMeta = pt.taskSpec.metadata;
    }
    return node;
  }

  /** Every step image must be one the runner can honour; checked before the run with the params known now. */
  #checkImages(): void {
    const refused = new Set<string>();
    for (const node of this.#nodes.values()) {
      let spec = node.spec;
      try {
        const pt = resolvePipelineTask(node.pt, { params: this.#params });
        spec = substituteTaskSpec(pt.taskSpec ? embeddedSpec(pt.taskSpec, node.spec) : node.spec, { params: pt.params ?? [] });
      } catch {
        // substitution problems surface when the task runs, with the task named
      }
      for (const raw of spec.steps) {
        const step = mergeStepTemplate(raw, spec.stepTemplate);
        if (step.image === undefined) refused.add(`(no image) in step "${step.name}" of "${node.pt.name}"`);
        else if (!hasUnresolved(step.image) && classifyImage(step.image, this.#o.images) === undefined) refused.add(step.image);
      }
    }
    if (refused.size > 0) {
      throw new VouchError(
        'STEP_IMAGE_REFUSED',
        `the local runner cannot run ${[...refused].map((i) => JSON.stringify(i)).join(', ')}: there are no containers here, so a step ` +
          `image must be vouch's task image (${this.#o.images.taskImage}) or one you trust the host's tools to stand in ` +
          `for, named with --host-image PATTERN (config runner.hostImages), e.g. --host-image '${imageRepository([...refused][0]!)}*'`,
      );
    }
  }

  // ---- the run ---------------------------------------------------------------------------------------------------

  async run(): Promise<RunOutcome> {
    preflightSandbox(this.#o.sandbox);
    mkdirSync(join(this.#runDir, 'taskruns'), { recursive: true });
    mkdirSync(join(this.#runDir, 'logs'), { recursive: true });
    writeVouchShim(this.#shimDir);
    this.#prepareWorkspaces();
    this.#o.view?.plan?.([...this.#nodes.values()].map((n) => ({ name: n.pt.name, finally: n.isFinally, runAfter: [...(this.#dag.parents.get(n.pt.name) ?? [])] })));

    const onAbort = (): void => {
      this.#cancel();
    };
    if (this.#o.signal?.aborted) this.#cancelled = true;
    this.#o.signal?.addEventListener('abort', onAbort, { once: true });

    this.#startMs = Date.now();
    const status = (this.#pr.status ??= {});
    status.startTime = now();
    status.pipelineSpec = storedPipelineSpec(this.#o.pipeline.spec);
    if (this.#o.pipelineFile !== undefined) status.provenance = { refSource: fileRefSource(this.#o.pipelineFile) };
    this.#transitionPr(condition('Unknown', PipelineRunReason.started, ''));
    this.#updateRunning();
    if (this.#timeouts.pipeline > 0) this.#timers.push(setTimeout(() => { this.#timeout('pipeline'); }, this.#timeouts.pipeline));
    if (this.#timeouts.tasks !== undefined && this.#timeouts.tasks > 0) this.#timers.push(setTimeout(() => { this.#timeout('tasks'); }, this.#timeouts.tasks));

    try {
      await this.#loop();
    } finally {
      for (const t of this.#timers) clearTimeout(t);
      this.#o.signal?.removeEventListener('abort', onAbort);
    }
    this.#finish();
    this.#flush();
    const events = await this.#queue.drain(this.#o.eventDrainMs ?? 20_000);
    if (events.failed > 0 || events.pending > 0) {
      this.#log.warn({ ...events }, 'not every CloudEvent reached the sink');
    }
    const succeeded = getCondition(this.#pr)?.status === 'True';
    return { pipelineRun: this.#pr, taskRuns: [...this.#nodes.values()].flatMap((n) => (n.taskRun ? [n.taskRun] : [])), succeeded, events };
  }

  #prepareWorkspaces(): void {
    const given = this.#o.workspaceDirs ?? {};
    const bindings = this.#pr.spec.workspaces ?? [];
    for (const decl of this.#o.pipeline.spec.workspaces ?? []) {
      const dir = given[decl.name];
      let binding = bindings.find((b) => b.name === decl.name);
      if (!binding && dir === undefined && decl.optional) {
        this.#workspaces.set(decl.name, undefined);
        continue;
      }
      if (!binding) {
        // bound by -w, or not at all: recorded as what it behaves like
        binding = { name: decl.name, ...LOCAL_VOLUME };
        (this.#pr.spec.workspaces ??= []).push(binding);
      }
      if (dir !== undefined) {
        this.#workspaces.set(decl.name, resolve(dir));
      } else {
        // an emptyDir belongs to each TaskRun's pod (prepared per attempt); anything else is one directory per run,
        // shared by its tasks, as a volumeClaimTemplate's PVC is
        if (binding.emptyDir !== undefined) this.#perTaskRun.add(decl.name);
        const path = join(this.#runDir, 'workspaces', decl.name);
        const bound = binding.subPath ? join(path, binding.subPath) : path;
        mkdirSync(bound, { recursive: true });
        this.#workspaces.set(decl.name, bound);
      }
      this.#bindings.set(decl.name, binding);
    }
  }

  #cancel(): void {
    if (this.#isOver()) return;
    this.#cancelled = true;
    for (const n of this.#nodes.values()) n.abort?.abort();
    this.#wake?.();
  }

  #timeout(which: 'pipeline' | 'tasks' | 'finally'): void {
    if (this.#isOver()) return;
    if (which === 'tasks' && this.#finallyStarted) return;
    this.#timedOut ??= which;
    const targets = which === 'pipeline' ? [...this.#nodes.values()] : which === 'tasks' ? this.#dagNodes : this.#finallyNodes;
    for (const n of targets) {
      if (n.state === 'running') {
        n.timedOut = true;
        n.abort?.abort();
      }
    }
    this.#wake?.();
  }

  #isOver(): boolean {
    return getCondition(this.#pr)?.status !== undefined && getCondition(this.#pr)?.status !== 'Unknown';
  }

  /** The scheduling loop: start what can start, wait for something to finish, repeat until nothing runs. */
  async #loop(): Promise<void> {
    const running = new Set<Promise<void>>();
    for (;;) {
      for (const node of this.#schedule()) {
        const p = this.#runTask(node).catch((err: unknown) => {
          // a bug of ours must still leave a terminal TaskRun behind, never one stuck "Running"
          this.#log.error({ err: errorMessage(err), task: node.pt.name }, 'task crashed');
          node.state = 'failed';
          if (node.taskRun && getCondition(node.taskRun)?.status === 'Unknown') {
            node.taskRun.status!.completionTime = now();
            this.#transitionTr(node, condition('False', TaskRunReason.failed, `internal error in vouch run: ${errorMessage(err)}`), 'failed');
          }
        });
        running.add(p);
        void p.finally(() => {
          running.delete(p);
          this.#wake?.();
        });
      }
      if (running.size === 0) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
      this.#updateRunning();
    }
  }

  #stopping(): boolean {
    return this.#dagNodes.some((n) => (n.state === 'failed' && !n.continued) || n.state === 'cancelled');
  }

  /** Decides which tasks start now; marks the ones Tekton would skip (repeating while skips unblock others). */
  #schedule(): Node[] {
    const start: Node[] = [];
    if (this.#cancelled || this.#invalidResultRef !== undefined || this.#timedOut === 'pipeline') return start;
    let changed = true;
    while (changed) {
      changed = false;
      const stopping = this.#stopping() || this.#timedOut === 'tasks';
      for (const n of this.#dagNodes) {
        if (n.state !== 'pending' || start.includes(n)) continue;
        if (stopping) {
          // Tekton starts nothing new once the run is stopping or its tasks budget is spent
          this.#skip(n, this.#timedOut === 'tasks' ? SkippingReason.tasksTimedOut : SkippingReason.stopping);
          changed = true;
          continue;
        }
        const parents = [...(this.#dag.parents.get(n.pt.name) ?? [])].map((p) => this.#nodes.get(p)!);
        if (!parents.every((p) => p.state === 'succeeded' || p.state === 'skipped' || (p.state === 'failed' && p.continued))) continue;
        if (parents.some((p) => p.state === 'skipped' && p.skipReason !== SkippingReason.whenExpressions)) {
          this.#skip(n, SkippingReason.parentTasksSkip);
          changed = true;
          continue;
        }
        const decision = this.#resolveForStart(n);
        if (decision === 'invalid') return [];
        if (decision === 'skipped') changed = true;
        else start.push(n);
      }
    }
    if (start.length > 0 || this.#dagNodes.some((n) => n.state === 'pending' || n.state === 'running')) return start;
    if (!this.#finallyStarted) {
      this.#finallyStarted = true;
      this.#finallyStartMs = Date.now();
      if (this.#finallyNodes.length > 0) (this.#pr.status ??= {}).finallyStartTime = now();
      if (this.#timeouts.finally !== undefined && this.#timeouts.finally > 0) {
        this.#timers.push(
          setTimeout(() => {
            this.#timeout('finally');
          }, this.#timeouts.finally),
        );
      }
      for (const n of this.#finallyNodes) if (this.#resolveForStart(n) === 'start') start.push(n);
    }
    return start;
  }

  /** Resolves a task's params and when expressions now that its parents are done; skips it as Tekton would. */
  #resolveForStart(n: Node): 'start' | 'skipped' | 'invalid' {
    const taskResults: Record<string, Record<string, ParamValue>> = {};
    // results of any TaskRun that reported them, failed ones included (Tekton's ResolveResultRefs reads status.results)
    for (const other of this.#dagNodes) if (other.taskRun && other.state !== 'running') taskResults[other.pt.name] = other.results;
    // result references that cannot be resolved
    for (const ref of resultRefs(n.pt)) {
      const producer = this.#nodes.get(ref.task);
      if (!producer) continue;
      if (producer.results[ref.result] !== undefined) continue;
      if (n.isFinally || (producer.state === 'skipped' && producer.skipReason === SkippingReason.whenExpressions)) {
        this.#skip(n, SkippingReason.missingResults);
        return 'skipped';
      }
      // a task that succeeded without writing a result others need: Tekton fails the PipelineRun
      this.#invalidResultRef = `Invalid task result reference: Could not find result with name ${ref.result} for pipeline task ${ref.task}`;
      return 'invalid';
    }
    const taskStates = n.isFinally ? this.#taskStates() : undefined;
    const resolved = resolvePipelineTask(n.pt, {
      params: this.#params,
      context: { pipelineRunName: this.#pr.metadata.name!, pipelineRunNamespace: this.#pr.metadata.namespace!, pipelineRunUid: this.#pr.metadata.uid!, pipelineName: this.#o.pipelineName },
      taskResults,
      workspacesBound: Object.fromEntries([...this.#workspaces].map(([k, v]) => [k, v !== undefined])),
      ...(taskStates ? { taskStates: taskStates.tasks, aggregateStatus: taskStates.aggregate } : {}),
    });
    n.resolvedWhen = resolved.when;
    n.pt = { ...resolved, name: n.pt.name };
    if (resolved.taskSpec) n.spec = embeddedSpec(resolved.taskSpec, n.spec);
    if (!whenAllows(resolved.when)) {
      this.#skip(n, SkippingReason.whenExpressions);
      return 'skipped';
    }
    const elapsed = Date.now() - this.#startMs;
    if (this.#timeouts.pipeline > 0 && elapsed > this.#timeouts.pipeline) {
      this.#skip(n, SkippingReason.pipelineTimedOut);
      return 'skipped';
    }
    if (n.isFinally && this.#timedOut === 'finally') {
      this.#skip(n, SkippingReason.finallyTimedOut);
      return 'skipped';
    }
    return 'start';
  }

  /** `$(tasks.T.status)` and `$(tasks.status)` as Tekton's GetPipelineTaskStatus computes them. */
  #taskStates(): { tasks: Record<string, { status: string; reason?: string }>; aggregate: string } {
    const tasks: Record<string, { status: string; reason?: string }> = {};
    let aggregate = 'Succeeded';
    for (const n of this.#dagNodes) {
      const failed = n.state === 'failed' || n.state === 'cancelled';
      const status = n.state === 'succeeded' ? 'Succeeded' : failed ? 'Failed' : 'None';
      const reason = n.taskRun ? (getCondition(n.taskRun)?.reason ?? '') : '';
      tasks[n.pt.name] = { status, reason };
      if (failed) aggregate = 'Failed';
      else if (n.state === 'skipped' && aggregate !== 'Failed') aggregate = 'Completed';
    }
    return { tasks, aggregate };
  }

  #skip(n: Node, reason: SkippingReason): void {
    n.state = 'skipped';
    n.skipReason = reason;
    const status = (this.#pr.status ??= {});
    const skipped = (status.skippedTasks ??= []);
    skipped.push({ name: n.pt.name, reason, ...(reason === SkippingReason.whenExpressions && n.resolvedWhen ? { whenExpressions: n.resolvedWhen } : {}) });
    this.#record({ kind: 'SkippedTask', name: n.pt.name, pipelineTask: n.pt.name, finally: n.isFinally, state: 'skipped', reason });
    this.#writePr();
  }

  // ---- one pipeline task ------------------------------------------------------------------------------------------

  #taskTimeoutMs(n: Node): number {
    // Tekton: the remaining budget of tasks/finally/pipeline, capped by the pipeline task's own timeout
    const elapsed = Date.now() - this.#startMs;
    let budget = 0;
    if (n.isFinally && this.#timeouts.finally) budget = this.#timeouts.finally - (Date.now() - (this.#finallyStartMs ?? Date.now()));
    else if (!n.isFinally && this.#timeouts.tasks) budget = this.#timeouts.tasks - elapsed;
    else if (this.#timeouts.pipeline) budget = this.#timeouts.pipeline - elapsed;
    if (budget !== 0) budget = Math.max(budget, 1000);
    const own = timeoutMsOf(n.pt.timeout, `pipeline task "${n.pt.name}" timeout`);
    if (own !== undefined && own > 0 && (budget === 0 || own < budget)) budget = own;
    return budget;
  }

  async #runTask(n: Node): Promise<void> {
    n.state = 'running';
    const timeoutMs = this.#taskTimeoutMs(n);
    const tr = newTaskRun({
      pipelineRun: this.#pr,
      pipelineTaskName: n.pt.name,
      finally: n.isFinally,
      ...(n.taskRef ? { taskRef: n.taskRef } : {}),
      taskSpec: n.spec,
      ...(n.taskName ? { taskName: n.taskName } : {}),
      params: n.pt.params ?? [],
      workspaces: (n.pt.workspaces ?? []).flatMap((w) => {
        const b = this.#bindings.get(w.workspace ?? w.name);
        if (!b) return [];
        const { name: _n, subPath: _s, ...kind } = b;
        return [{ name: w.name, ...(w.subPath ? { subPath: w.subPath } : {}), ...kind }];
      }),
      timeoutMs,
      retries: n.pt.retries ?? 0,
      ...(n.taskMeta?.labels ? { taskLabels: n.taskMeta.labels } : {}),
      ...(n.taskMeta?.annotations ? { taskAnnotations: n.taskMeta.annotations } : {}),
      ...(n.refSource ? { refSource: n.refSource } : {}),
    });
    n.taskRun = tr;
    const child: ChildStatusReference = { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', name: tr.metadata.name!, pipelineTaskName: n.pt.name };
    // getChildRefForTaskRun: displayName (substituted) and the resolved when expressions
    if (n.pt.displayName) child.displayName = n.pt.displayName;
    if (n.resolvedWhen?.length) child.whenExpressions = n.resolvedWhen;
    ((this.#pr.status ??= {}).childReferences ??= []).push(child);
    this.#writePr();

    const retries = n.pt.retries ?? 0;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#attempt(n, tr, attempt, timeoutMs);
      const status = tr.status!;
      const canRetry = outcome !== 'succeeded' && outcome !== 'cancelled' && !this.#cancelled && this.#timedOut === undefined && attempt < retries;
      if (canRetry) {
        // Tekton's retryTaskRun: the attempt's status moves to retriesStatus and the TaskRun starts over
        const { retriesStatus: _r, ...previous } = structuredClone(status);
        previous.completionTime = now();
        status.retriesStatus = [...(status.retriesStatus ?? []), previous];
        delete status.startTime;
        delete status.completionTime;
        delete status.steps;
        delete status.results;
        this.#transitionTr(n, condition('Unknown', TaskRunReason.toBeRetried, getCondition(tr)?.message ?? ''), 'retrying');
        continue;
      }
      n.state = outcome === 'succeeded' ? 'succeeded' : outcome === 'cancelled' ? 'cancelled' : 'failed';
      if (n.state === 'failed' && n.pt.onError === 'continue') n.continued = true;
      return;
    }
  }

  /** One attempt of a TaskRun (its "pod"): steps in order, then results. */
  async #attempt(n: Node, tr: TaskRun, attempt: number, timeoutMs: number): Promise<'succeeded' | 'failed' | 'cancelled'> {
    const name = tr.metadata.name!;
    const status = tr.status!;
    const work = join(this.#runDir, 'work', name);
    const resultsDir = join(work, 'results');
    const home = join(work, 'home');
    const defaultWorkingDir = join(work, 'workspace');
    rmSync(resultsDir, { recursive: true, force: true });
    for (const d of [resultsDir, home, defaultWorkingDir, join(work, 'scripts')]) mkdirSync(d, { recursive: true });
    const logDir = join(this.#runDir, 'logs', n.pt.name);
    mkdirSync(logDir, { recursive: true });
    if (attempt > 0) {
      // keep each attempt's logs; the plain <step>.log is always the latest attempt
      for (const f of readdirSync(logDir)) if (/^[^.]+\.log$/.test(f)) renameSync(join(logDir, f), join(logDir, f.replace(/\.log$/, `.attempt-${attempt - 1}.log`)));
    }

    status.podName = attempt === 0 ? `${name}-pod` : `${name}-pod-retry${attempt}`;
    status.startTime = now();
    n.attemptStartMs = Date.now();
    if (attempt === 0) this.#transitionTr(n, condition('Unknown', TaskRunReason.started, ''), 'running');
    this.#transitionTr(n, condition('Unknown', TaskRunReason.running, Messages.taskRunRunning), 'running');

    // the task's workspaces: pipeline workspace (+ subPath) -> host directory
    const taskWorkspaces: Record<string, string> = {};
    const writable = [resultsDir, home, defaultWorkingDir];
    const readable: string[] = [this.#shimDir, join(work, 'scripts')];
    for (const decl of n.spec.workspaces ?? []) {
      const binding = n.pt.workspaces?.find((w) => w.name === decl.name);
      const pipelineWs = binding ? (binding.workspace ?? binding.name) : undefined;
      let base = pipelineWs === undefined ? undefined : this.#workspaces.get(pipelineWs);
      if (base === undefined || pipelineWs === undefined) continue;
      if (this.#perTaskRun.has(pipelineWs)) {
        base = join(work, 'emptydir', pipelineWs);
        rmSync(base, { recursive: true, force: true });
      }
      const path = binding?.subPath ? join(base, binding.subPath) : base;
      mkdirSync(path, { recursive: true });
      taskWorkspaces[decl.name] = path;
      (decl.readOnly ? readable : writable).push(path);
    }

    const abort = new AbortController();
    n.abort = abort;
    n.timedOut = false;
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
    let spec: TaskSpec;
    try {
      spec = substituteTaskSpec(n.spec, {
        params: n.pt.params ?? [],
        context: { taskRunName: name, taskRunNamespace: tr.metadata.namespace!, taskRunUid: tr.metadata.uid!, taskName: n.taskName ?? '', retryCount: attempt },
        workspaces: taskWorkspaces,
        resultsDir,
      });
    } catch (err) {
      this.#transitionTr(n, condition('False', TaskRunReason.failed, errorMessage(err)), 'failed');
      status.completionTime = now();
      return 'failed';
    }

    const steps: StepState[] = [];
    status.steps = steps;
    // every step reports the result files present when it ends (Tekton's entrypoint); later reports win
    const results = new Map<string, TaskRunResult>();
    let resultProblem: string | undefined;
    let failure: { step: string; code: number; log: string; stepTimedOut: boolean } | undefined;
    let taskTimedOut = false;
    for (const [i, raw] of spec.steps.entries()) {
      const step = mergeStepTemplate(raw, spec.stepTemplate);
      // no image was pulled: imageID names the image without a digest, so provenance never claims one ran
      const state: StepState = { name: step.name, container: `step-${step.name}`, ...(step.image ? { imageID: withoutDigest(step.image) } : {}) };
      steps.push(state);
      if (failure || taskTimedOut || abort.signal.aborted) {
        // Tekton's entrypoint skips the steps after a failure (exit 1, "Skipped")
        state.terminated = { exitCode: 1, reason: 'Error', startedAt: now(), finishedAt: now() };
        state.terminationReason = 'Skipped';
        continue;
      }
      const outcome = await this.#runStep(n, step, i, { work, home, defaultWorkingDir, writable, readable, deadline, abort: abort.signal, logDir });
      state.terminated = {
        exitCode: outcome.exitCode,
        reason: outcome.exitCode === 0 ? 'Completed' : 'Error',
        startedAt: outcome.startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        finishedAt: outcome.finishedAt.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
      state.terminationReason = outcome.stepTimedOut ? 'TimeoutExceeded' : outcome.exitCode === 0 ? 'Completed' : 'Error';
      try {
        const reported = await readStepResults(resultsDir, spec.results, {
          taskName: n.pt.name,
          stepName: step.name,
          startedAt: outcome.startedAt,
          ...(outcome.exitCode !== 0 && step.onError === 'continue' ? { exitCode: outcome.exitCode } : {}),
        });
        for (const r of reported) results.set(r.name, r);
      } catch (err) {
        resultProblem ??= errorMessage(err);
      }
      if (outcome.taskTimedOut) {
        taskTimedOut = true;
        continue;
      }
      if (outcome.exitCode !== 0 && !abort.signal.aborted) {
        if (step.onError === 'continue') {
          state.terminated.reason = 'Completed';
          state.terminationReason = 'Continued';
        } else {
          failure = { step: step.name, code: outcome.exitCode, log: outcome.logFile, stepTimedOut: outcome.stepTimedOut };
        }
      }
    }
    n.abort = undefined;
    status.completionTime = now();
    // like Tekton, a TaskRun keeps the results its steps reported even when it fails (finally tasks may use them)
    n.results = {};
    if (resultProblem === undefined) {
      if (results.size > 0) status.results = [...results.values()];
      for (const r of results.values()) n.results[r.name] = r.value;
    }

    if (abort.signal.aborted) {
      // read through a function: the flag is set by the timeout timer while this attempt awaited its steps
      n.cancelledForTimeout = hitTimeout(n) || this.#timedOut !== undefined;
      const why = n.cancelledForTimeout ? Messages.cancelledByPipelineTimeout : Messages.cancelledByPipelineRun;
      tr.spec.status = 'TaskRunCancelled';
      tr.spec.statusMessage = why;
      this.#transitionTr(n, condition('False', TaskRunReason.cancelled, Messages.taskRunCancelled(name, why)), 'cancelled');
      return 'cancelled';
    }
    if (taskTimedOut) {
      this.#transitionTr(n, condition('False', TaskRunReason.timedOut, Messages.taskRunTimeout(name, goDuration(timeoutMs))), 'timedout');
      return 'failed';
    }
    if (failure) {
      // pkg/pod/status.go: a pipeline task with onError: continue fails as FailureIgnored
      const reason = n.pt.onError === 'continue' ? FAILURE_IGNORED : TaskRunReason.failed;
      const message = failure.stepTimedOut ? Messages.stepTimedOut(failure.step) : Messages.stepFailed(failure.step, failure.code);
      this.#transitionTr(n, condition('False', reason, message), 'failed', failure.log);
      return 'failed';
    }
    if (resultProblem !== undefined) {
      const reason = /max allowed size/.test(resultProblem) ? TaskRunReason.resultLargerThanAllowedLimit : TaskRunReason.failed;
      this.#transitionTr(n, condition('False', reason, resultProblem), 'failed');
      return 'failed';
    }
    this.#transitionTr(n, condition('True', TaskRunReason.successful, Messages.taskRunSucceeded), 'succeeded');
    return 'succeeded';
  }

  async #runStep(
    n: Node,
    step: Step,
    index: number,
    ctx: { work: string; home: string; defaultWorkingDir: string; writable: string[]; readable: string[]; deadline: number | undefined; abort: AbortSignal; logDir: string },
  ): Promise<{ exitCode: number; startedAt: Date; finishedAt: Date; stepTimedOut: boolean; taskTimedOut: boolean; logFile: string }> {
    const logFile = join(ctx.logDir, `${step.name}.log`);
    const kind = step.image === undefined ? undefined : classifyImage(step.image, this.#o.images);
    const startedAt = new Date();
    const fail = (message: string): { exitCode: number; startedAt: Date; finishedAt: Date; stepTimedOut: boolean; taskTimedOut: boolean; logFile: string } => {
      writeFileSync(logFile, `vouch: ${message}\n`, { flag: 'a' });
      return { exitCode: 1, startedAt, finishedAt: new Date(), stepTimedOut: false, taskTimedOut: false, logFile };
    };
    if (kind === undefined) {
      return fail(`image ${JSON.stringify(step.image ?? '')} is neither vouch's task image nor allowed with --host-image; refusing to run this step`);
    }
    let command;
    try {
      command = stepCommand({ step, index, kind, scriptsDir: join(ctx.work, 'scripts'), shimDir: this.#shimDir, home: ctx.home, defaultWorkingDir: ctx.defaultWorkingDir });
    } catch (err) {
      return fail(errorMessage(err));
    }
    let stepTimeout: number | undefined;
    try {
      stepTimeout = timeoutMsOf(step.timeout, `step "${step.name}" timeout`);
    } catch (err) {
      return fail(errorMessage(err));
    }
    const remaining = ctx.deadline === undefined ? undefined : Math.max(ctx.deadline - Date.now(), 1);
    const byStep = stepTimeout !== undefined && stepTimeout > 0 && (remaining === undefined || stepTimeout < remaining);
    const timeoutMs = byStep ? stepTimeout : remaining;
    const allowNetwork = (this.#o.allowNetwork ?? []).includes(n.pt.name);
    const runAs = runAsOf(step);
    const asked = privilegesAsked(step);
    if (asked.length > 0) this.#log.warn({ task: n.pt.name, step: step.name, ignored: asked }, 'securityContext asks for privileges the step sandbox never grants: ignored (docs/run.md)');
    const outcome = await runStepProcess(
      {
        argv: command.argv,
        env: command.env,
        workingDir: command.workingDir,
        writable: ctx.writable,
        readable: ctx.readable,
        network: allowNetwork,
        ...(runAs ? { runAs } : {}),
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        logFile,
        signal: ctx.abort,
        onOutput: (chunk) => this.#o.onStepOutput?.(n.pt.name, step.name, chunk),
      },
      this.#o.sandbox,
    );
    return {
      exitCode: outcome.exitCode,
      startedAt: outcome.startedAt,
      finishedAt: outcome.finishedAt,
      stepTimedOut: outcome.timedOut && byStep,
      taskTimedOut: outcome.timedOut && !byStep,
      logFile,
    };
  }

  // ---- status, files, events --------------------------------------------------------------------------------------

  /** Tekton's "Tasks Completed: …" Running condition; a changed message is a new running event, as on a cluster. */
  /**
   * The Unknown condition while tasks remain, as GetPipelineConditionStatus words it: Running, or PipelineRunStopping
   * once a task was cancelled or a DAG task failed with no finally task left to run. A changed message is a new event.
   */
  #updateRunning(): void {
    // a cancelled or timed-out PipelineRun goes straight to its final condition
    if (this.#isOver() || this.#cancelled || this.#timedOut === 'pipeline') return;
    const c = this.#counts();
    // the last task finishing turns the run terminal directly, without a last Running
    if (c.incomplete === 0 && c.done + c.skipped > 0) return;
    const finallyDone = this.#finallyNodes.every((n) => n.state !== 'pending' && n.state !== 'running');
    const reason = c.cancelled > 0 || (c.failed > 0 && finallyDone) ? PIPELINE_RUN_STOPPING : PipelineRunReason.running;
    this.#transitionPr(condition('Unknown', reason, Messages.tasksRunning(c.done, c.failed, c.cancelled, c.incomplete, c.skipped)));
  }

  /** Tekton's getPipelineTasksCount. */
  #counts(): { done: number; succeeded: number; failed: number; ignoredFailed: number; cancelled: number; skipped: number; skippedDueToTimeout: number; incomplete: number } {
    const c = { done: 0, succeeded: 0, failed: 0, ignoredFailed: 0, cancelled: 0, skipped: 0, skippedDueToTimeout: 0, incomplete: 0 };
    const timeoutSkips: string[] = [SkippingReason.pipelineTimedOut, SkippingReason.tasksTimedOut, SkippingReason.finallyTimedOut];
    for (const n of this.#nodes.values()) {
      if (n.state === 'succeeded') c.succeeded++;
      // a TaskRun cancelled because a timeout of the PipelineRun ran out counts as failed
      else if (n.state === 'cancelled' && n.cancelledForTimeout) c.failed++;
      else if (n.state === 'cancelled') c.cancelled++;
      else if (n.state === 'failed') {
        if (n.continued) c.ignoredFailed++;
        else c.failed++;
      } else if (n.state === 'skipped') {
        c.skipped++;
        if (timeoutSkips.includes(n.skipReason ?? '')) c.skippedDueToTimeout++;
      } else c.incomplete++;
    }
    c.done = c.succeeded + c.failed + c.cancelled + c.ignoredFailed;
    return c;
  }

  #finish(): void {
    const status = (this.#pr.status ??= {});
    // whatever never got to run is skipped (a stopped DAG, a spent budget), unless the run was cancelled outright
    if (this.#timedOut === 'pipeline') {
      for (const n of this.#nodes.values()) if (n.state === 'pending') this.#skip(n, SkippingReason.pipelineTimedOut);
    } else if (!this.#cancelled && this.#invalidResultRef === undefined) {
      for (const n of this.#dagNodes) if (n.state === 'pending') this.#skip(n, SkippingReason.stopping);
    }
    status.completionTime = now();
    const name = this.#pr.metadata.name!;
    const c = this.#counts();
    let next;
    if (this.#cancelled) {
      next = condition('False', PipelineRunReason.cancelled, Messages.pipelineRunCancelled(name));
    } else if (this.#timedOut === 'pipeline') {
      next = condition('False', PipelineRunReason.timedOut, Messages.pipelineRunTimeout(name, goDuration(this.#timeouts.pipeline)));
    } else if (this.#timedOut === 'tasks') {
      next = condition('False', PipelineRunReason.timedOut, Messages.tasksTimeout(name, goDuration(this.#timeouts.tasks!)));
    } else if (this.#invalidResultRef !== undefined) {
      next = condition('False', PipelineRunReason.invalidTaskResultReference, this.#invalidResultRef);
    } else {
      // GetPipelineConditionStatus once nothing is incomplete (a spent finally budget shows as failed tasks)
      let reason: string = c.skipped > 0 ? PipelineRunReason.completed : PipelineRunReason.successful;
      let ok = true;
      if (c.failed > 0 || c.skippedDueToTimeout > 0) {
        reason = PipelineRunReason.failed;
        ok = false;
      } else if (c.cancelled > 0) {
        reason = PipelineRunReason.cancelled;
        ok = false;
      }
      next = condition(ok ? 'True' : 'False', reason, Messages.tasksDone(c.done, c.failed + c.ignoredFailed, c.ignoredFailed, c.cancelled, c.skipped));
    }
    if (next.status === 'True' || !this.#cancelled) {
      const results = this.#pipelineResults();
      if (results.length > 0) status.results = results;
    }
    this.#transitionPr(next);
  }

  /** Pipeline results from task results; one whose references cannot be resolved is left out, as Tekton does. */
  #pipelineResults(): PipelineRunResult[] {
    const out: PipelineRunResult[] = [];
    const taskResults: Record<string, Record<string, ParamValue>> = {};
    const finallyResults: Record<string, Record<string, ParamValue>> = {};
    for (const n of this.#nodes.values()) if (n.state === 'succeeded') (n.isFinally ? finallyResults : taskResults)[n.pt.name] = n.results;
    for (const r of this.#o.pipeline.spec.results ?? []) {
      const strings = typeof r.value === 'string' ? [r.value] : Array.isArray(r.value) ? r.value : Object.values(r.value);
      const missing = strings.some((s) =>
        occurrences(s).some((o) => o.ref.kind === 'taskResult' && (o.ref.scope === 'tasks' ? taskResults : finallyResults)[o.ref.task]?.[o.ref.result] === undefined),
      );
      if (missing) continue;
      try {
        out.push({ name: r.name, value: substituteParamValue(r.value, { taskResults, finallyResults }, `results.${r.name}`) });
      } catch (err) {
        this.#log.warn({ result: r.name, err: errorMessage(err) }, 'pipeline result left out');
      }
    }
    return out;
  }

  #transitionPr(next: ReturnType<typeof condition>): void {
    if (!setCondition(this.#pr, next)) return;
    this.#writePr();
    const event = this.#emit(this.#pr);
    const status = this.#pr.status!;
    const state: TaskState = next.status === 'True' ? 'succeeded' : next.status === 'False' ? (next.reason === PipelineRunReason.cancelled ? 'cancelled' : next.reason === PipelineRunReason.timedOut ? 'timedout' : 'failed') : 'running';
    this.#record({
      kind: 'PipelineRun',
      name: this.#pr.metadata.name!,
      state,
      status: next.status,
      reason: next.reason ?? '',
      ...(next.message ? { message: next.message } : {}),
      ...(status.startTime ? { startTime: status.startTime } : {}),
      ...(status.completionTime && next.status !== 'Unknown' ? { completionTime: status.completionTime, durationMs: Date.now() - this.#startMs } : {}),
      ...(event ? { event } : {}),
    });
  }

  #transitionTr(n: Node, next: ReturnType<typeof condition>, state: TaskState, failedStepLog?: string): void {
    const tr = n.taskRun!;
    if (!setCondition(tr, next)) return;
    this.#save(join(this.#runDir, 'taskruns', `${tr.metadata.name!}.json`), tr);
    const event = this.#emit(tr);
    const status = tr.status!;
    const retry = status.retriesStatus?.length;
    this.#record({
      kind: 'TaskRun',
      name: tr.metadata.name!,
      pipelineTask: n.pt.name,
      finally: n.isFinally,
      state,
      status: next.status,
      reason: next.reason ?? '',
      ...(next.message ? { message: next.message } : {}),
      ...(status.startTime ? { startTime: status.startTime } : {}),
      ...(status.completionTime && next.status !== 'Unknown' ? { completionTime: status.completionTime, durationMs: Date.now() - (n.attemptStartMs ?? Date.now()) } : {}),
      ...(retry ? { retry } : {}),
      ...(event ? { event } : {}),
      ...(failedStepLog ? { failedStepLog } : {}),
    });
  }

  #emit(obj: TaskRun | PipelineRun): string | undefined {
    const factory = this.#o.eventFactory;
    if (!factory || this.#queue.size === 0) return undefined;
    const event = factory(structuredClone(obj));
    if (!event) return undefined;
    this.#queue.emit(event);
    return event.type;
  }

  #record(r: Omit<TransitionRecord, 'time'>): void {
    this.#o.view?.transition({ time: new Date().toISOString(), ...r });
  }

  /**
   * Objects are written once per turn of the event loop, whatever number of transitions happened in it: the file
   * shows the latest state, and starting a step does not wait for serialising the whole run. flush() at the end.
   */
  #save(file: string, value: unknown): void {
    this.#dirty.set(file, value);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flush();
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    for (const [file, value] of this.#dirty) writeJson(file, value);
    this.#dirty.clear();
  }

  #writePr(): void {
    this.#save(join(this.#runDir, 'pipelinerun.json'), this.#pr);
  }
}

/** How a workspace without a PipelineRun binding (or bound with -w) is recorded: like a per-run PVC. */
const LOCAL_VOLUME: Omit<WorkspaceBinding, 'name'> = {
  volumeClaimTemplate: { spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
};

/** securityContext fields that ask for privileges: capabilities would undo the step sandbox, so none is granted. */
function privilegesAsked(step: Step): string[] {
  const sc = step.securityContext ?? {};
  const asked: string[] = [];
  if (sc['privileged'] === true) asked.push('privileged');
  if (sc['allowPrivilegeEscalation'] === true) asked.push('allowPrivilegeEscalation');
  const caps = sc['capabilities'];
  const add = typeof caps === 'object' && caps !== null ? (caps as Record<string, unknown>)['add'] : undefined;
  if (Array.isArray(add) && add.length > 0) asked.push(`capabilities.add [${add.map(String).join(', ')}]`);
  return asked;
}

/** securityContext.runAsUser (and runAsGroup, default the same) of a step, when it asks for a non-root user. */
function runAsOf(step: Step): { uid: number; gid: number } | undefined {
  const sc = step.securityContext;
  const uid = sc?.['runAsUser'];
  if (typeof uid !== 'number' || !Number.isInteger(uid) || uid <= 0) return undefined;
  const gid = sc?.['runAsGroup'];
  return { uid, gid: typeof gid === 'number' && Number.isInteger(gid) && gid >= 0 ? gid : uid };
}

/** What Tekton's webhook and reconciler add to a submitted PipelineRun: namespace, uid, labels, defaults. */
function completeMetadata(pr: PipelineRun, pipelineName: string): PipelineRun {
  const m = pr.metadata;
  m.namespace ??= NAMESPACE;
  m.uid ??= randomUUID();
  m.generation ??= 1;
  m.creationTimestamp ??= now();
  m.labels = { ...m.labels, [Labels.pipeline]: pipelineName };
  if (pr.spec.params?.length === 0) delete pr.spec.params;
  pr.spec.timeouts = { ...pr.spec.timeouts, pipeline: pr.spec.timeouts?.pipeline ?? goDuration(DEFAULT_TIMEOUT_MS) };
  pr.spec.taskRunTemplate = { serviceAccountName: SERVICE_ACCOUNT, ...pr.spec.taskRunTemplate };
  if (pr.spec.pipelineSpec) pr.spec.pipelineSpec = storedPipelineSpec(pr.spec.pipelineSpec);
  return pr;
}

/** The TaskSpec inside an embedded task (its metadata/apiVersion/kind dropped), keeping the defaulted types. */
function embeddedSpec(embedded: NonNullable<PipelineTask['taskSpec']>, defaulted: TaskSpec): TaskSpec {
  const { metadata: _m, apiVersion: _a, kind: _k, spec: _s, ...spec } = embedded;
  return { ...spec, ...(defaulted.params ? { params: defaulted.params } : {}), ...(defaulted.results ? { results: defaulted.results } : {}) };
}

function withoutDigest(image: string): string {
  const at = image.indexOf('@');
  return at === -1 ? image : image.slice(0, at);
}

function hitTimeout(n: Node): boolean {
  return n.timedOut === true;
}

function resultRefs(pt: PipelineTask): { task: string; result: string }[] {
  const strings: string[] = [];
  const add = (v: ParamValue): void => {
    if (typeof v === 'string') strings.push(v);
    else if (Array.isArray(v)) strings.push(...v);
    else strings.push(...Object.values(v));
  };
  for (const p of pt.params ?? []) add(p.value);
  for (const w of pt.when ?? []) {
    if (w.input !== undefined) strings.push(w.input);
    strings.push(...(w.values ?? []));
  }
  const out: { task: string; result: string }[] = [];
  for (const s of strings) for (const o of occurrences(s)) if (o.ref.kind === 'taskResult' && o.ref.scope === 'tasks') out.push({ task: o.ref.task, result: o.ref.result });
  return out;
}

export function runPipeline(options: ExecutorOptions): Promise<RunOutcome> {
  return new PipelineRunExecutor(options).run();
}
