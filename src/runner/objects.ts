// TaskRun and PipelineRun objects shaped as Tekton's controllers shape them (names, labels, owner references,
// conditions with Tekton's reasons and messages), so that whatever reads them (the sidecar, Chains-compatible
// provenance, a person used to `kubectl get -o yaml`) cannot tell a local run from a cluster run.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sha256Hex } from '../common/digest.ts';
import {
  API_V1,
  Labels,
  PipelineRunReason,
  TaskRunReason,
  type Condition,
  type ConditionStatus,
  type Param,
  type PipelineRun,
  type PipelineSpec,
  type PipelineTask,
  type RefSource,
  type TaskRef,
  type TaskRun,
  type TaskSpec,
  type WorkspaceBinding,
} from '../tekton/types.ts';
import { formatDuration as goDuration } from '../tekton/duration.ts';
import { paramTypeOf, typeProperties, withTaskDefaults } from '../tekton/validate.ts';

export const NAMESPACE = 'default';
export const SERVICE_ACCOUNT = 'default';
export const MANAGED_BY = 'tekton-pipelines';

export function now(): string {
  // Tekton's metav1.Time serialises with second precision
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function condition(status: ConditionStatus, reason: string, message: string): Condition {
  return { type: 'Succeeded', status, reason, message, lastTransitionTime: now() };
}

// Kubernetes' generateName suffix alphabet (k8s.io/apimachinery/pkg/util/rand: no vowels, no confusable digits)
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

export function generateName(prefix: string): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += ALPHANUMS.charAt(Math.floor(Math.random() * ALPHANUMS.length));
  return `${prefix}${s}`;
}

/** knative's kmeta.ChildName: parent+suffix, or a hash of the parent when that exceeds 63 characters. */
export function childName(parent: string, suffix: string): string {
  const longest = 63;
  if (parent.length + suffix.length <= longest) return parent + suffix;
  const hash = createHash('md5').update(parent).digest('hex');
  const head = longest - suffix.length - hash.length;
  if (head <= 0) return createHash('md5').update(parent + suffix).digest('hex');
  return `${parent.slice(0, head)}${hash}${suffix}`.replace(/-+$/, '');
}

export interface NewTaskRunInput {
  pipelineRun: PipelineRun;
  pipelineTaskName: string;
  finally: boolean;
  taskRef?: TaskRef;
  taskSpec: TaskSpec;
  /** the task's name when it came from a Task object (label tekton.dev/task) */
  taskName?: string;
  params: Param[];
  workspaces: WorkspaceBinding[];
  timeoutMs: number;
  retries: number;
  taskLabels?: Record<string, string>;
  taskAnnotations?: Record<string, string>;
  /** where the Task came from (status.provenance.refSource, as a resolver records it) */
  refSource?: RefSource;
}

/**
 * A TaskSpec as Tekton's API server hands it back (`kubectl get -o json`, what Chains reads and signs as runSpec):
 * its webhook's SetDefaults (param and result types, object properties typed string), then Go's marshalling of the
 * v1 structs, which writes a step's `name` and `computeResources` (a struct: omitempty never drops it) even empty.
 */
export function storedTaskSpec(spec: TaskSpec): TaskSpec {
  const out = withTaskDefaults(spec);
  out.steps = out.steps.map((s) => ({ ...s, name: s.name ?? '', computeResources: s.computeResources ?? {} }));
  if (out.stepTemplate) out.stepTemplate = { ...out.stepTemplate, computeResources: out.stepTemplate.computeResources ?? {} };
  return out;
}

/**
 * A PipelineSpec as the API server hands it back: SetDefaults (param types, taskRef kind Task) and Go's marshalling:
 * a result's `description` has no omitempty (`""`), and an embedded task writes `metadata: {}` (a struct) and
 * `spec: null` (an empty runtime.RawExtension). Matches recordings from real clusters (fixtures/ec/hacks-05).
 */
export function storedPipelineSpec(spec: PipelineSpec): PipelineSpec {
  const out = structuredClone(spec);
  for (const p of out.params ?? []) {
    p.type = paramTypeOf(p);
    typeProperties(p.properties);
  }
  for (const r of out.results ?? []) r.description ??= '';
  const task = (pt: PipelineTask): PipelineTask => {
    const shaped = { ...pt };
    if (pt.taskRef) shaped.taskRef = { ...pt.taskRef, kind: pt.taskRef.kind ?? 'Task' };
    if (pt.taskSpec) {
      const { metadata, apiVersion, kind, spec: custom, ...taskSpec } = pt.taskSpec;
      shaped.taskSpec = {
        ...(apiVersion !== undefined ? { apiVersion } : {}),
        ...(kind !== undefined ? { kind } : {}),
        ...storedTaskSpec(taskSpec),
        metadata: metadata ?? {},
        spec: custom ?? null,
      };
    }
    return shaped;
  };
  if (out.tasks) out.tasks = out.tasks.map(task);
  if (out.finally) out.finally = out.finally.map(task);
  return out;
}

/**
 * status.provenance.refSource for a Task or Pipeline read from a local file: the file's URI, its sha256 and the path
 * as given (Tekton's git resolver records repo URL, commit and path the same way), so provenance can name exactly
 * which definition ran.
 */
export function fileRefSource(file: string): RefSource {
  const abs = resolve(file);
  return { uri: pathToFileURL(abs).href, digest: { sha256: sha256Hex(readFileSync(abs)) }, entryPoint: file };
}

export function newTaskRun(input: NewTaskRunInput): TaskRun {
  const pr = input.pipelineRun;
  const name = childName(pr.metadata.name!, `-${input.pipelineTaskName}`);
  // Tekton propagates the Task's, then the PipelineRun's labels, then sets its own
  const labels: Record<string, string> = {
    ...input.taskLabels,
    ...pr.metadata.labels,
    [Labels.managedBy]: MANAGED_BY,
    [Labels.pipelineRun]: pr.metadata.name!,
    [Labels.pipelineRunUID]: pr.metadata.uid!,
    [Labels.pipelineTask]: input.pipelineTaskName,
    [Labels.memberOf]: input.finally ? 'finally' : 'tasks',
  };
  if (input.taskName) labels[Labels.task] = input.taskName;
  const annotations = { ...input.taskAnnotations, ...pr.metadata.annotations };
  return {
    apiVersion: API_V1,
    kind: 'TaskRun',
    metadata: {
      name,
      namespace: NAMESPACE,
      uid: randomUUID(),
      generation: 1,
      creationTimestamp: now(),
      labels,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ownerReferences: [{ apiVersion: API_V1, kind: 'PipelineRun', name: pr.metadata.name!, uid: pr.metadata.uid!, controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      ...(input.retries > 0 ? { retries: input.retries } : {}),
      params: input.params,
      serviceAccountName: SERVICE_ACCOUNT,
      ...(input.taskRef ? { taskRef: { kind: 'Task', ...input.taskRef } } : { taskSpec: storedTaskSpec(input.taskSpec) }),
      timeout: goDuration(input.timeoutMs),
      ...(input.workspaces.length > 0 ? { workspaces: input.workspaces } : {}),
    },
    status: { podName: `${name}-pod`, taskSpec: storedTaskSpec(input.taskSpec), ...(input.refSource ? { provenance: { refSource: input.refSource } } : {}) },
  };
}

/** Messages Tekton's reconcilers write with each reason. */
export const Messages = {
  taskRunRunning: 'Not all Steps in the Task have finished executing',
  taskRunSucceeded: 'All Steps have completed executing',
  stepFailed: (step: string, code: number) => `"step-${step}" exited with code ${code}`,
  stepTimedOut: (step: string) => `"step-${step}" exited because the step exceeded the specified timeout limit`,
  taskRunTimeout: (name: string, timeout: string) => `TaskRun "${name}" failed to finish within "${timeout}"`,
  taskRunCancelled: (name: string, why: string) => `TaskRun "${name}" was cancelled. ${why}`,
  cancelledByPipelineRun: 'TaskRun cancelled as the PipelineRun it belongs to has been cancelled.',
  cancelledByPipelineTimeout: 'TaskRun cancelled as the PipelineRun it belongs to has timed out.',
  pipelineRunTimeout: (name: string, timeout: string) => `PipelineRun "${name}" failed to finish within "${timeout}"`,
  pipelineRunCancelled: (name: string) => `PipelineRun "${name}" was cancelled`,
  tasksRunning: (completed: number, failed: number, cancelled: number, incomplete: number, skipped: number) =>
    `Tasks Completed: ${completed} (Failed: ${failed}, Cancelled ${cancelled}), Incomplete: ${incomplete}, Skipped: ${skipped}`,
  tasksDone: (completed: number, failed: number, ignored: number, cancelled: number, skipped: number) =>
    ignored > 0
      ? `Tasks Completed: ${completed} (Failed: ${failed} (Ignored: ${ignored}), Cancelled ${cancelled}), Skipped: ${skipped}`
      : `Tasks Completed: ${completed} (Failed: ${failed}, Cancelled ${cancelled}), Skipped: ${skipped}`,
  tasksTimeout: (name: string, timeout: string) => `PipelineRun "${name}" failed due to tasks failed to finish within "${timeout}"`,
} as const;

export { PipelineRunReason, TaskRunReason };

/** TaskRunReasonFailureIgnored: the TaskRun of a pipeline task with onError: continue that failed. */
export const FAILURE_IGNORED = 'FailureIgnored';

/** PipelineRunReasonStopping (v1.PipelineRunReasonStopping), missing from tekton/types.ts's PipelineRunReason. */
export const PIPELINE_RUN_STOPPING = 'PipelineRunStopping';

export function getCondition(obj: { status?: { conditions?: Condition[] } }): Condition | undefined {
  return obj.status?.conditions?.[0];
}

/** Replaces the Succeeded condition; returns false when nothing changed (Tekton emits events only on change). */
export function setCondition(obj: { status?: { conditions?: Condition[] } }, next: Condition): boolean {
  const prev = getCondition(obj);
  if (prev && prev.status === next.status && prev.reason === next.reason && prev.message === next.message) return false;
  obj.status ??= {};
  obj.status.conditions = [next];
  return true;
}
