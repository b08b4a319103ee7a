// Tekton Pipelines v1 (tekton.dev/v1) object types. JSON field names are exactly those of Tekton's Go structs
// (pkg/apis/pipeline/v1/*_types.go) and of the CRD schemas, so objects we produce serialise as Tekton's do.
// Only the subset vouch reads or writes is typed; fields the validator accepts but the runner refuses are still listed so
// the refusal can name them.

export const API_V1 = 'tekton.dev/v1';
export const API_V1BETA1 = 'tekton.dev/v1beta1';

/** The kinds the loader understands. */
export type TektonKind = 'Task' | 'Pipeline' | 'TaskRun' | 'PipelineRun';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** metav1.ObjectMeta, the subset vouch reads and writes. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
}

// ---- params ----------------------------------------------------------------------------------------------------

export type ParamType = 'string' | 'array' | 'object';

/** A param or result value: Tekton's ParamValue / ResultValue serialise as one of these three JSON shapes. */
export type ParamValue = string | string[] | Record<string, string>;

export interface PropertySpec {
  type: 'string';
}

/** ParamSpec (declared on a Task or Pipeline). `type` defaults to string, or is inferred from `default`/`properties`. */
export interface ParamSpec {
  name: string;
  type?: ParamType;
  description?: string;
  properties?: Record<string, PropertySpec>;
  default?: ParamValue;
  enum?: string[];
}

/** Param (given on a run, a pipeline task, or a ref). */
export interface Param {
  name: string;
  value: ParamValue;
}

// ---- results ---------------------------------------------------------------------------------------------------

export type ResultsType = 'string' | 'array' | 'object';

/** TaskResult (declared by a Task) and StepResult (declared by a Step) share this shape. */
export interface TaskResult {
  name: string;
  type?: ResultsType;
  properties?: Record<string, PropertySpec>;
  description?: string;
}
export type StepResult = TaskResult;

/** PipelineResult: `value` holds references such as `$(tasks.t.results.r)`. */
export interface PipelineResult {
  name: string;
  type?: ResultsType;
  description?: string;
  value: ParamValue;
}

/** TaskRunResult (status.results of a TaskRun; also status.steps[].results). */
export interface TaskRunResult {
  name: string;
  type?: ResultsType;
  value: ParamValue;
}

/** PipelineRunResult (status.results of a PipelineRun). */
export interface PipelineRunResult {
  name: string;
  value: ParamValue;
}

// ---- workspaces ------------------------------------------------------------------------------------------------

export interface WorkspaceDeclaration {
  name: string;
  description?: string;
  mountPath?: string;
  readOnly?: boolean;
  optional?: boolean;
}

export interface PipelineWorkspaceDeclaration {
  name: string;
  description?: string;
  optional?: boolean;
}

/** WorkspacePipelineTaskBinding: binds a Task's workspace `name` to the Pipeline's workspace `workspace`. */
export interface WorkspacePipelineTaskBinding {
  name: string;
  workspace?: string;
  subPath?: string;
}

/** WorkspaceBinding on a run. Locally only emptyDir (a fresh directory) or a host directory bound with `-w` exist. */
export interface WorkspaceBinding {
  name: string;
  subPath?: string;
  emptyDir?: Record<string, unknown>;
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  volumeClaimTemplate?: Record<string, unknown>;
  configMap?: Record<string, unknown>;
  secret?: Record<string, unknown>;
  projected?: Record<string, unknown>;
  csi?: Record<string, unknown>;
}

// ---- steps -----------------------------------------------------------------------------------------------------

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: Record<string, unknown>;
}

export interface ResourceRequirements {
  limits?: Record<string, string>;
  requests?: Record<string, string>;
}

export type OnErrorType = 'stopAndFail' | 'continue';

export interface StepOutputConfig {
  path?: string;
}

export interface WorkspaceUsage {
  name: string;
  mountPath: string;
}

export interface Step {
  name: string;
  displayName?: string;
  image?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  envFrom?: Record<string, unknown>[];
  computeResources?: ResourceRequirements;
  volumeMounts?: Record<string, unknown>[];
  volumeDevices?: Record<string, unknown>[];
  imagePullPolicy?: string;
  securityContext?: Record<string, unknown>;
  script?: string;
  timeout?: string;
  workspaces?: WorkspaceUsage[];
  onError?: OnErrorType;
  stdoutConfig?: StepOutputConfig;
  stderrConfig?: StepOutputConfig;
  /** StepAction reference: refused by vouch's runner */
  ref?: { name?: string; resolver?: string; params?: Param[] };
  params?: Param[];
  results?: StepResult[];
  when?: WhenExpression[];
}

/** StepTemplate: the fields of a Step that a template may default (Tekton's StepTemplate struct). */
export type StepTemplate = Pick<
  Step,
  'image' | 'command' | 'args' | 'workingDir' | 'env' | 'envFrom' | 'computeResources' | 'volumeMounts' | 'volumeDevices' | 'imagePullPolicy' | 'securityContext'
>;

/** Sidecar: accepted by the validator, refused by the local runner. */
export type Sidecar = Record<string, unknown> & { name: string; image?: string; script?: string };

// ---- Task ------------------------------------------------------------------------------------------------------

export interface TaskSpec {
  displayName?: string;
  description?: string;
  params?: ParamSpec[];
  results?: TaskResult[];
  workspaces?: WorkspaceDeclaration[];
  steps: Step[];
  stepTemplate?: StepTemplate;
  sidecars?: Sidecar[];
  volumes?: Record<string, unknown>[];
}

export interface Task {
  apiVersion: typeof API_V1;
  kind: 'Task';
  metadata: ObjectMeta;
  spec: TaskSpec;
}

// ---- Pipeline --------------------------------------------------------------------------------------------------

/** WhenExpression. Operators are `in` and `notin` (selection.Operator strings); `cel` is refused locally. */
export interface WhenExpression {
  input?: string;
  operator?: 'in' | 'notin';
  values?: string[];
  cel?: string;
}

/** TaskRef. `kind` defaults to Task; `resolver` (remote resolution) is refused locally. */
export interface TaskRef {
  name?: string;
  kind?: string;
  apiVersion?: string;
  resolver?: string;
  params?: Param[];
}

export interface PipelineRef {
  name?: string;
  apiVersion?: string;
  resolver?: string;
  params?: Param[];
}

export interface IncludeParams {
  name: string;
  params: Param[];
}

export interface Matrix {
  params?: Param[];
  include?: IncludeParams[];
}

/** EmbeddedTask (PipelineTask.taskSpec): a TaskSpec plus optional metadata/apiVersion/kind/spec. */
export interface EmbeddedTask extends TaskSpec {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  apiVersion?: string;
  kind?: string;
  /** a custom task's spec; `null` as the API server returns an embedded Task (Go's empty runtime.RawExtension) */
  spec?: Record<string, unknown> | null;
}

export interface PipelineTask {
  name: string;
  displayName?: string;
  description?: string;
  taskRef?: TaskRef;
  taskSpec?: EmbeddedTask;
  when?: WhenExpression[];
  onError?: 'continue' | 'stopAndFail';
  retries?: number;
  runAfter?: string[];
  params?: Param[];
  matrix?: Matrix;
  workspaces?: WorkspacePipelineTaskBinding[];
  timeout?: string;
  pipelineRef?: PipelineRef;
  pipelineSpec?: PipelineSpec;
}

export interface PipelineSpec {
  displayName?: string;
  description?: string;
  tasks?: PipelineTask[];
  params?: ParamSpec[];
  workspaces?: PipelineWorkspaceDeclaration[];
  results?: PipelineResult[];
  finally?: PipelineTask[];
}

export interface Pipeline {
  apiVersion: typeof API_V1;
  kind: 'Pipeline';
  metadata: ObjectMeta;
  spec: PipelineSpec;
}

// ---- status ----------------------------------------------------------------------------------------------------

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** knative apis.Condition; Tekton uses type `Succeeded` only. */
export interface Condition {
  type: 'Succeeded';
  status: ConditionStatus;
  severity?: string;
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

export interface RefSource {
  uri?: string;
  digest?: Record<string, string>;
  entryPoint?: string;
}

export interface Provenance {
  refSource?: RefSource;
  featureFlags?: Record<string, unknown>;
}

/** corev1.ContainerState* subset (status.steps[]). */
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  containerID?: string;
}

export interface StepState {
  name: string;
  container?: string;
  imageID?: string;
  waiting?: { reason?: string; message?: string };
  running?: { startedAt?: string };
  terminated?: ContainerStateTerminated;
  /** why the step terminated: Completed, Continued, Error, TimeoutExceeded, Skipped */
  terminationReason?: string;
  results?: TaskRunResult[];
}

export interface TaskRunStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  annotations?: Record<string, string>;
  podName: string;
  startTime?: string;
  completionTime?: string;
  steps?: StepState[];
  retriesStatus?: TaskRunStatus[];
  results?: TaskRunResult[];
  sidecars?: Record<string, unknown>[];
  taskSpec?: TaskSpec;
  provenance?: Provenance;
}

export interface ChildStatusReference {
  apiVersion: string;
  kind: string;
  name: string;
  displayName?: string;
  pipelineTaskName: string;
  whenExpressions?: WhenExpression[];
}

/** SkippedTask.reason values (pkg/apis/pipeline/v1/pipelinerun_types.go SkippingReason). */
export const SkippingReason = {
  whenExpressions: 'When Expressions evaluated to false',
  parentTasksSkip: 'Parent Tasks were skipped',
  stopping: 'PipelineRun was stopping',
  gracefullyCancelled: 'PipelineRun was gracefully cancelled',
  gracefullyStopped: 'PipelineRun was gracefully stopped',
  missingResults: 'Results were missing',
  pipelineTimedOut: 'PipelineRun timeout has been reached',
  tasksTimedOut: 'PipelineRun Tasks timeout has been reached',
  finallyTimedOut: 'PipelineRun Finally timeout has been reached',
  emptyArrayInMatrixParams: 'Matrix Parameters have an empty array',
  none: 'None',
} as const;
export type SkippingReason = (typeof SkippingReason)[keyof typeof SkippingReason];

export interface SkippedTask {
  name: string;
  reason: SkippingReason;
  whenExpressions?: WhenExpression[];
}

export interface PipelineRunStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  annotations?: Record<string, string>;
  startTime?: string;
  completionTime?: string;
  finallyStartTime?: string;
  results?: PipelineRunResult[];
  pipelineSpec?: PipelineSpec;
  skippedTasks?: SkippedTask[];
  childReferences?: ChildStatusReference[];
  provenance?: Provenance;
}

// ---- runs ------------------------------------------------------------------------------------------------------

export interface TimeoutFields {
  pipeline?: string;
  tasks?: string;
  finally?: string;
}

export interface PipelineTaskRunTemplate {
  serviceAccountName?: string;
  podTemplate?: Record<string, unknown>;
}

export interface PipelineRunSpec {
  pipelineRef?: PipelineRef;
  pipelineSpec?: PipelineSpec;
  params?: Param[];
  status?: string;
  timeouts?: TimeoutFields;
  taskRunTemplate?: PipelineTaskRunTemplate;
  workspaces?: WorkspaceBinding[];
  taskRunSpecs?: Record<string, unknown>[];
  managedBy?: string;
}

export interface PipelineRun {
  apiVersion: typeof API_V1;
  kind: 'PipelineRun';
  metadata: ObjectMeta;
  spec: PipelineRunSpec;
  status?: PipelineRunStatus;
}

export interface TaskRunSpec {
  taskRef?: TaskRef;
  taskSpec?: TaskSpec;
  params?: Param[];
  serviceAccountName?: string;
  status?: string;
  statusMessage?: string;
  retries?: number;
  timeout?: string;
  podTemplate?: Record<string, unknown>;
  workspaces?: WorkspaceBinding[];
  stepSpecs?: Record<string, unknown>[];
  sidecarSpecs?: Record<string, unknown>[];
  computeResources?: ResourceRequirements;
  managedBy?: string;
}

export interface TaskRun {
  apiVersion: typeof API_V1;
  kind: 'TaskRun';
  metadata: ObjectMeta;
  spec: TaskRunSpec;
  status?: TaskRunStatus;
}

export type TektonResource = Task | Pipeline | TaskRun | PipelineRun;

/** Labels Tekton puts on child TaskRuns (pkg/apis/pipeline/register.go). */
export const Labels = {
  task: 'tekton.dev/task',
  clusterTask: 'tekton.dev/clusterTask',
  taskRun: 'tekton.dev/taskRun',
  taskRunUID: 'tekton.dev/taskRunUID',
  pipeline: 'tekton.dev/pipeline',
  pipelineRun: 'tekton.dev/pipelineRun',
  pipelineRunUID: 'tekton.dev/pipelineRunUID',
  pipelineTask: 'tekton.dev/pipelineTask',
  memberOf: 'tekton.dev/memberOf',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

/** Condition reasons Tekton sets (TaskRunReason / PipelineRunReason). */
export const TaskRunReason = {
  started: 'Started',
  running: 'Running',
  successful: 'Succeeded',
  failed: 'Failed',
  /** a failed TaskRun of a pipeline task with onError: continue */
  failureIgnored: 'FailureIgnored',
  toBeRetried: 'ToBeRetried',
  cancelled: 'TaskRunCancelled',
  timedOut: 'TaskRunTimeout',
  resolvingTaskRef: 'ResolvingTaskRef',
  failedValidation: 'TaskRunValidationFailed',
  resultLargerThanAllowedLimit: 'TaskRunResultLargerThanAllowedLimit',
  invalidParamValue: 'InvalidParamValue',
} as const;

export const PipelineRunReason = {
  started: 'Started',
  running: 'Running',
  successful: 'Succeeded',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  pending: 'PipelineRunPending',
  timedOut: 'PipelineRunTimeout',
  stoppedRunningFinally: 'StoppedRunningFinally',
  cancelledRunningFinally: 'CancelledRunningFinally',
  failedValidation: 'PipelineValidationFailed',
  invalidTaskResultReference: 'InvalidTaskResultReference',
} as const;
