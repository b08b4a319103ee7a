// SLSA Provenance v1 for Tekton runs, shaped exactly like Tekton Chains' `slsa/v2alpha4` output (tektoncd/chains
// pkg/chains/formats/slsa/v2alpha4 and its internal packages, as of chains e44b60fe / v0.29): the same subjects (type
// hinting, see typehints.ts), resolvedDependencies, externalParameters, internalParameters, byproducts and metadata,
// with protojson field names and timestamps. Consumers of Chains' provenance (Enterprise Contract, policy engines)
// read ours unchanged.
//
// Input: Tekton **v1** objects (tekton.dev/v1: `status.results`, `status.childReferences`), as the API server serves
// them or as `vouch run` builds them. CloudEvents carry **v1beta1** (`taskResults`/`pipelineResults`): callers convert
// first (src/tekton/events.ts), and in a cluster re-read the objects anyway. This room may not import src/tekton
// (DESIGN.md §2), so the input types below are structural: real v1 objects, as JSON or as src/tekton/types.ts types,
// are assignable to them.
//
// Where vouch deliberately differs from Chains (each also named in test/attest/provenance*.test.ts):
// - invalid type hints and other dropped facts come back as `warnings` instead of a log line;
// - a step without imageID (never started) or with one without digest is skipped with a warning; Chains fails the
//   whole attestation;
// - `*IMAGE_URL`/`*IMAGE_DIGEST` pairs keep the order of the results (Chains iterates a Go map: random order);
// - feature flags: Chains re-marshals them through its vendored FeatureFlags struct (json tags, omitempty); we
//   apply the same two visible effects (first letter lowercased, zero values dropped) without knowing the struct;
// - runSpec is the run's spec as given (Chains round-trips it through Go structs, which drops unknown fields);
// - slsa-tekton `pipelineTask` content is base64 of the TaskRun as given, not of Go's json.Marshal of it.

import { VouchError } from '../common/errors.ts';
import { checkProvenanceSchema } from './provenance/schema.ts';
import { SLSA_PROVENANCE_V1 } from './predicates.ts';
import { STATEMENT_TYPE_V1, validateStatement } from './statement.ts';
import {
  appendArtifacts,
  gitSource,
  goJsonMarshal,
  inputsFromResults,
  isBuildArtifact,
  isImageHintName,
  subjectsFromResults,
  type Artifact,
  type DigestSet,
  type ProvenanceWarning,
  type ProvenanceWarningCode,
  type ResultLike,
  type Warn,
} from './typehints.ts';

export type { ProvenanceWarning, ProvenanceWarningCode, ResultLike, DigestSet } from './typehints.ts';
export { checkProvenanceSchema } from './provenance/schema.ts';

export { SLSA_PROVENANCE_V1 };
/** Chains' default buildType (`slsa`): generic SLSA verifiers. */
export const BUILD_TYPE_SLSA = 'https://tekton.dev/chains/v2/slsa';
/** Chains' `slsa-tekton` buildType: adds labels/annotations and each child TaskRun (base64) to the provenance. */
export const BUILD_TYPE_SLSA_TEKTON = 'https://tekton.dev/chains/v2/slsa-tekton';
export const DEFAULT_BUILDER_ID = 'https://tekton.dev/chains/v2';
export type BuildType = typeof BUILD_TYPE_SLSA | typeof BUILD_TYPE_SLSA_TEKTON;

const PIPELINE_TASK_LABEL = 'tekton.dev/pipelineTask';
const PIPELINE_RUN_LABEL = 'tekton.dev/pipelineRun';
const PIPELINE_RUN_UID_LABEL = 'tekton.dev/pipelineRunUID';

// ---- input: the facts of a run the builder reads (structural subsets of Tekton v1) ------------------------------

export interface RunMetadataLike {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ParamLike {
  readonly name: string;
  readonly value?: unknown;
}

export interface ParamSpecLike {
  readonly name: string;
  readonly default?: unknown;
}

export interface RefLike {
  readonly name?: string;
  readonly resolver?: string;
}

export interface RefSourceLike {
  readonly uri?: string;
  readonly digest?: Readonly<Record<string, string>>;
  readonly entryPoint?: string;
}

export interface RunProvenanceLike {
  readonly refSource?: RefSourceLike;
  readonly featureFlags?: Readonly<Record<string, unknown>>;
}

export interface StepStateLike {
  readonly name?: string;
  readonly imageID?: string;
  readonly results?: readonly ResultLike[];
}

export interface SidecarStateLike {
  readonly name?: unknown;
  readonly imageID?: unknown;
}

export interface TaskRunLike {
  readonly metadata?: RunMetadataLike;
  readonly spec?: {
    readonly params?: readonly ParamLike[];
    readonly taskRef?: RefLike;
  };
  readonly status?: {
    readonly startTime?: string;
    readonly completionTime?: string;
    readonly results?: readonly ResultLike[];
    readonly steps?: readonly StepStateLike[];
    readonly sidecars?: readonly SidecarStateLike[];
    readonly taskSpec?: { readonly params?: readonly ParamSpecLike[] };
    readonly provenance?: RunProvenanceLike;
  };
}

export interface PipelineTaskLike {
  readonly name: string;
}

export interface ChildReferenceLike {
  readonly name: string;
  readonly kind?: string;
  readonly pipelineTaskName?: string;
}

export interface PipelineRunLike {
  readonly metadata?: RunMetadataLike;
  readonly spec?: {
    readonly params?: readonly ParamLike[];
    readonly pipelineRef?: RefLike;
  };
  readonly status?: {
    readonly startTime?: string;
    readonly completionTime?: string;
    readonly results?: readonly ResultLike[];
    readonly pipelineSpec?: {
      readonly params?: readonly ParamSpecLike[];
      readonly tasks?: readonly PipelineTaskLike[];
      readonly finally?: readonly PipelineTaskLike[];
    };
    readonly childReferences?: readonly ChildReferenceLike[];
    readonly provenance?: RunProvenanceLike;
  };
}

// ---- output ----------------------------------------------------------------------------------------------------

/** in-toto ResourceDescriptor as Chains fills it (protojson names; empty fields omitted). */
export interface ProvenanceResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: DigestSet;
  /** base64 */
  content?: string;
  mediaType?: string;
  annotations?: Record<string, string>;
}

/** A gate evidence file the sidecar checked and attests beside the provenance (see ProvenanceOptions.evidence). */
export interface EvidenceByproduct {
  /** `<pipelineTask>/<RESULT>` */
  name: string;
  uri: string;
  sha256: string;
  predicateType: string;
}

export interface SlsaProvenanceV1 {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters: Record<string, unknown>;
    resolvedDependencies?: ProvenanceResourceDescriptor[];
  };
  runDetails: {
    builder: { id: string };
    metadata: { invocationId?: string; startedOn?: string; finishedOn?: string };
    byproducts?: ProvenanceResourceDescriptor[];
  };
}

export interface ProvenanceStatement {
  _type: typeof STATEMENT_TYPE_V1;
  /** omitted when no subject was found, as Chains does (see the NO_SUBJECTS warning) */
  subject?: { name: string; digest: DigestSet }[];
  predicateType: typeof SLSA_PROVENANCE_V1;
  predicate: SlsaProvenanceV1;
}

export interface ProvenanceResult {
  statement: ProvenanceStatement;
  /** facts Chains would drop silently (invalid hints, missing children...): report them, do not ignore them */
  warnings: ProvenanceWarning[];
}

export interface ProvenanceOptions {
  /** runDetails.builder.id; default https://tekton.dev/chains/v2 */
  builderId?: string;
  /** default https://tekton.dev/chains/v2/slsa */
  buildType?: BuildType;
  /** PipelineRuns: child TaskRuns' subjects, byproducts and type-hinted inputs too (Chains' deep inspection). vouch default: on */
  deepInspection?: boolean;
  /**
   * PipelineRuns: gate evidence files attested beside this provenance, listed last in runDetails.byproducts as
   * `{name, uri, digest: {sha256}, annotations: {predicateType}}` (CONTRACTS.md). Not in Chains: the caller (the
   * sidecar) passes only evidence it has read and checked.
   */
  evidence?: readonly EvidenceByproduct[];
}

// ---- entry points ------------------------------------------------------------------------------------------------

/** Provenance of a TaskRun (Chains: `artifacts.taskrun.format: slsa/v2alpha4`). */
export function buildTaskRunProvenance(taskRun: TaskRunLike, options: ProvenanceOptions = {}): ProvenanceResult {
  const config = resolveOptions(options);
  const warnings = new Warnings();
  const where = `TaskRun ${nameOf(taskRun) ?? '(unnamed)'}`;
  checkTaskRun(taskRun, where);
  if (!taskRun.status?.completionTime) warnings.add('RUN_NOT_FINISHED', where, 'no status.completionTime: the TaskRun has not finished');

  const resolved: ProvenanceResourceDescriptor[] = [];
  const refSource = taskRun.status?.provenance?.refSource;
  if (refSource) resolved.push(descriptor({ name: 'task', uri: refSource.uri, digest: refSource.digest }));
  resolved.push(...taskDependencies(taskRun, where, warnings.warn));

  const subjects = taskRunSubjects(taskRun, where, warnings.warn);
  return finish({
    subjects,
    buildType: config.buildType,
    externalParameters: externalParameters(taskRun.spec, taskRun.spec?.taskRef, taskRun.status?.provenance),
    internalParameters: internalParameters(taskRun, config.buildType),
    resolvedDependencies: dedupeResolvedDependencies(resolved),
    builderId: config.builderId,
    metadata: runMetadata(taskRun, where),
    byproducts: taskRunByproducts(taskRun),
    where,
    warnings,
  });
}

/**
 * Provenance of a PipelineRun with its child TaskRuns (Chains: `artifacts.pipelinerun.format: slsa/v2alpha4`).
 * Children are tied to pipeline tasks as Chains does (label `tekton.dev/pipelineTask`), falling back to
 * `status.childReferences`; a referenced child that is not given comes back as a CHILD_TASKRUN_MISSING warning.
 */
export function buildPipelineRunProvenance(pipelineRun: PipelineRunLike, taskRuns: readonly TaskRunLike[], options: ProvenanceOptions = {}): ProvenanceResult {
  const config = resolveOptions(options);
  const warnings = new Warnings();
  const prName = nameOf(pipelineRun) ?? '';
  const where = `PipelineRun ${prName || '(unnamed)'}`;
  checkPipelineRun(pipelineRun, where);
  if (!Array.isArray(taskRuns)) throw invalid(where, 'child TaskRuns', 'must be an array');
  taskRuns.forEach((tr, i) => { checkTaskRun(tr, `${where} child ${nameOf(tr) ?? `#${i}`}`); });
  const status = pipelineRun.status;
  if (!status?.completionTime) warnings.add('RUN_NOT_FINISHED', where, 'no status.completionTime: the PipelineRun has not finished');

  const children = matchChildren(pipelineRun, taskRuns, where, warnings.warn);
  // Chains reads children only through status.pipelineSpec: tasks, then finally, each TaskRun that completed.
  const executed = children.flatMap((c) => c.taskRuns.filter((tr) => tr.status?.completionTime));
  const firstOf = children.map((c) => c.taskRuns[0]).filter((tr): tr is TaskRunLike => tr?.status?.completionTime !== undefined && tr.status.completionTime !== '');

  // resolvedDependencies (chains resolveddependencies.PipelineRun)
  const resolved: ProvenanceResourceDescriptor[] = [];
  const refSource = status?.provenance?.refSource;
  if (refSource) resolved.push(descriptor({ name: 'pipeline', uri: refSource.uri, digest: refSource.digest }));
  for (const tr of firstOf) {
    const trWhere = `TaskRun ${tr.metadata?.name ?? '(unnamed)'}`;
    const trRef = tr.status?.provenance?.refSource;
    if (config.buildType === BUILD_TYPE_SLSA_TEKTON) {
      resolved.push(descriptor({ name: 'pipelineTask', uri: trRef?.uri, digest: trRef?.digest, content: Buffer.from(JSON.stringify(tr)).toString('base64') }));
    } else if (trRef) {
      resolved.push(descriptor({ name: 'pipelineTask', uri: trRef.uri, digest: trRef.digest }));
    }
    resolved.push(...imageDependencies(tr, trWhere, warnings.warn).map((m) => descriptor({ uri: m.name, digest: m.digest })));
  }
  const inputs: Artifact[] = [];
  const deepChildren = config.deepInspection ? firstOf : [];
  for (const tr of deepChildren) appendArtifacts(inputs, ...stepActionInputs(tr, `TaskRun ${tr.metadata?.name ?? '(unnamed)'}`, warnings.warn));
  appendArtifacts(inputs, ...inputsFromResults(status?.results ?? [], where, warnings.warn));
  for (const tr of deepChildren) appendArtifacts(inputs, ...taskParamsAndResultsInputs(tr, `TaskRun ${tr.metadata?.name ?? '(unnamed)'}`, warnings.warn));
  const prGit = gitSource(
    [
      ...(status?.pipelineSpec ? withDefaults(status.pipelineSpec.params) : []),
      ...(pipelineRun.spec?.params ?? []),
      ...(status?.results ?? []),
    ],
    where,
    warnings.warn,
  );
  if (prGit) appendArtifacts(inputs, prGit);
  resolved.push(...inputs.map((m) => descriptor({ name: 'inputs/result', uri: m.name, digest: m.digest })));

  // subjects: the PipelineRun's own, then (deep inspection) each executed child's (chains v2alpha4 pipelinerun.subjectDigests)
  const subjects = subjectsFromResults(status?.results ?? [], where, warnings.warn);
  if (config.deepInspection) {
    for (const tr of executed) appendArtifacts(subjects, ...taskRunSubjects(tr, `TaskRun ${tr.metadata?.name ?? '(unnamed)'}`, warnings.warn));
  }

  const byproducts = resultsByproducts(status?.results ?? [], (r) => `pipelineRunResults/${prName}/${r}`);
  if (config.deepInspection) for (const tr of executed) byproducts.push(...taskRunByproducts(tr));
  for (const e of options.evidence ?? []) byproducts.push({ name: e.name, uri: e.uri, digest: { sha256: e.sha256 }, annotations: { predicateType: e.predicateType } });

  return finish({
    subjects,
    buildType: config.buildType,
    externalParameters: externalParameters(pipelineRun.spec, pipelineRun.spec?.pipelineRef, status?.provenance),
    internalParameters: internalParameters(pipelineRun, config.buildType),
    resolvedDependencies: dedupeResolvedDependencies(resolved),
    builderId: config.builderId,
    metadata: runMetadata(pipelineRun, where),
    byproducts,
    where,
    warnings,
  });
}

/** One entry point for callers that hold either kind of run (the sidecar; `vouch run`). */
export function buildProvenance(
  input: { taskRun: TaskRunLike } | { pipelineRun: PipelineRunLike; taskRuns: readonly TaskRunLike[] },
  options: ProvenanceOptions = {},
): ProvenanceResult {
  return 'taskRun' in input ? buildTaskRunProvenance(input.taskRun, options) : buildPipelineRunProvenance(input.pipelineRun, input.taskRuns, options);
}

// ---- pieces ------------------------------------------------------------------------------------------------------

class Warnings {
  readonly list: ProvenanceWarning[] = [];
  private readonly seen = new Set<string>();
  add(code: ProvenanceWarningCode, where: string, message: string): void {
    const key = `${code}\u0000${where}\u0000${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ code, where, message });
  }
  readonly warn: Warn = (code, where, message) => { this.add(code, where, message); };
}

function resolveOptions(options: ProvenanceOptions): { builderId: string; buildType: BuildType; deepInspection: boolean } {
  // options may come from config files: check at run time what the type promises
  const buildType: string = options.buildType ?? BUILD_TYPE_SLSA;
  if (buildType !== BUILD_TYPE_SLSA && buildType !== BUILD_TYPE_SLSA_TEKTON) {
    throw new VouchError('USAGE', `unsupported buildType ${JSON.stringify(buildType)}: use ${BUILD_TYPE_SLSA} or ${BUILD_TYPE_SLSA_TEKTON}`);
  }
  const builderId = options.builderId ?? DEFAULT_BUILDER_ID;
  if (builderId === '') throw new VouchError('USAGE', 'the provenance builder id must not be empty');
  return { builderId, buildType, deepInspection: options.deepInspection ?? true };
}

function descriptor(d: { name?: string | undefined; uri?: string | undefined; digest?: Readonly<Record<string, string>> | undefined; content?: string | undefined; mediaType?: string }): ProvenanceResourceDescriptor {
  // protojson leaves out empty strings and empty maps
  const out: ProvenanceResourceDescriptor = {};
  if (d.name) out.name = d.name;
  if (d.uri) out.uri = d.uri;
  if (d.digest && Object.keys(d.digest).length > 0) out.digest = { ...d.digest };
  if (d.content) out.content = d.content;
  if (d.mediaType) out.mediaType = d.mediaType;
  return out;
}

function withDefaults(params: readonly ParamSpecLike[] | undefined): ParamLike[] {
  return (params ?? []).filter((p) => p.default !== undefined && p.default !== null).map((p) => ({ name: p.name, value: p.default }));
}

/** Step and sidecar images as `oci://repo` + digest (chains material.FromStepImages / FromSidecarImages). */
function imageDependencies(tr: TaskRunLike, where: string, warn: Warn): Artifact[] {
  const out: Artifact[] = [];
  const states: { kind: string; name: unknown; imageID: unknown }[] = [
    ...(tr.status?.steps ?? []).map((s) => ({ kind: 'step', name: s.name, imageID: s.imageID })),
    ...(tr.status?.sidecars ?? []).map((s) => ({ kind: 'sidecar', name: s.name, imageID: s.imageID })),
  ];
  for (const s of states) {
    const at = `${where} ${s.kind} ${typeof s.name === 'string' ? s.name : '(unnamed)'}`;
    if (s.imageID === undefined || s.imageID === null || s.imageID === '') {
      // Chains fails the whole attestation here; a step that never started has no image to record.
      warn('STEP_IMAGE_UNKNOWN', at, 'no imageID (the container never started): no resolved dependency for it');
      continue;
    }
    if (typeof s.imageID !== 'string') throw invalid(at, 'imageID', 'must be a string');
    const material = fromImageID(s.imageID);
    if (!material) {
      // Chains fails the whole attestation here. An image without digest cannot be a resolved dependency, but the
      // rest of the provenance still holds: record what can be, and say what could not.
      warn('STEP_IMAGE_UNKNOWN', at, `imageID ${JSON.stringify(s.imageID.slice(0, 200))} is not <image>@<algorithm>:<digest>: no resolved dependency for it`);
      continue;
    }
    appendArtifacts(out, material);
  }
  return out;
}

function fromImageID(imageID: string): Artifact | undefined {
  const uriDigest = imageID.split('@');
  if (uriDigest.length !== 2) return undefined;
  const digest = uriDigest[1]!.split(':');
  if (digest.length !== 2) return undefined;
  const uri = uriDigest[0]!.startsWith('docker-pullable://') ? uriDigest[0]!.slice('docker-pullable://'.length) : uriDigest[0]!;
  return { name: `oci://${uri}`, digest: { [digest[0]!]: digest[1]! } };
}

/** chains material.FromStepActionsResults: CHAINS-GIT_* pairs within each step's results, then step `*ARTIFACT_INPUTS`. */
function stepActionInputs(tr: TaskRunLike, where: string, warn: Warn): Artifact[] {
  const out: Artifact[] = [];
  for (const step of tr.status?.steps ?? []) {
    const git = gitSource(step.results ?? [], `${where} step ${step.name ?? '(unnamed)'}`, warn);
    if (git) appendArtifacts(out, git);
  }
  for (const step of tr.status?.steps ?? []) {
    appendArtifacts(out, ...inputsFromResults(step.results ?? [], `${where} step ${step.name ?? '(unnamed)'}`, warn));
  }
  return out;
}

/** chains material.FromTaskParamsAndResults: CHAINS-GIT_* (task defaults, params, results; later wins), then `*ARTIFACT_INPUTS`. */
function taskParamsAndResultsInputs(tr: TaskRunLike, where: string, warn: Warn): Artifact[] {
  const out: Artifact[] = [];
  const git = gitSource([...withDefaults(tr.status?.taskSpec?.params), ...(tr.spec?.params ?? []), ...(tr.status?.results ?? [])], where, warn);
  if (git) appendArtifacts(out, git);
  appendArtifacts(out, ...inputsFromResults(tr.status?.results ?? [], where, warn));
  return out;
}

/** chains resolveddependencies.taskDependencies: images, step-action inputs, then params/results inputs. */
function taskDependencies(tr: TaskRunLike, where: string, warn: Warn): ProvenanceResourceDescriptor[] {
  return [
    ...imageDependencies(tr, where, warn).map((m) => descriptor({ uri: m.name, digest: m.digest })),
    ...stepActionInputs(tr, where, warn).map((m) => descriptor({ name: 'inputs/result', uri: m.name, digest: m.digest })),
    ...taskParamsAndResultsInputs(tr, where, warn).map((m) => descriptor({ name: 'inputs/result', uri: m.name, digest: m.digest })),
  ];
}

/** chains RemoveDuplicateResolvedDependencies: same uri+digest+content is dropped, except the top-level task/pipeline. */
function dedupeResolvedDependencies(list: ProvenanceResourceDescriptor[]): ProvenanceResourceDescriptor[] {
  const seen = new Set<string>();
  const out: ProvenanceResourceDescriptor[] = [];
  for (const rd of list) {
    const digest = Object.entries(rd.digest ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const key = JSON.stringify([rd.uri ?? '', digest, rd.content ?? '']);
    if (seen.has(key) && rd.name !== 'task' && rd.name !== 'pipeline') continue;
    seen.add(key);
    out.push(rd);
  }
  return out;
}

/** chains v2alpha4 taskrun.SubjectDigests: each step's results, then the TaskRun's. */
function taskRunSubjects(tr: TaskRunLike, where: string, warn: Warn): Artifact[] {
  const subjects: Artifact[] = [];
  for (const step of tr.status?.steps ?? []) {
    appendArtifacts(subjects, ...subjectsFromResults(step.results ?? [], `${where} step ${step.name ?? '(unnamed)'}`, warn));
  }
  appendArtifacts(subjects, ...subjectsFromResults(tr.status?.results ?? [], where, warn));
  return subjects;
}

/** chains results.GetResultsWithoutBuildArtifacts: every result that is neither a build artifact nor an image hint. */
function resultsByproducts(results: readonly ResultLike[], name: (result: string) => string): ProvenanceResourceDescriptor[] {
  const out: ProvenanceResourceDescriptor[] = [];
  for (const r of results) {
    if (isBuildArtifact(r) !== false) continue; // a subject, or an invalid *ARTIFACT_OUTPUTS (Chains drops both)
    if (isImageHintName(r.name)) continue;
    out.push({ name: name(r.name), content: Buffer.from(goJsonMarshal(r.value ?? '')).toString('base64'), mediaType: 'application/json' });
  }
  return out;
}

/** chains v2alpha4 taskrun.ByProducts: `taskRunResults/<taskrun>/<result>`, then `stepResults/<taskrun>/<result>`. */
function taskRunByproducts(tr: TaskRunLike): ProvenanceResourceDescriptor[] {
  const name = tr.metadata?.name ?? '';
  const stepResults = (tr.status?.steps ?? []).flatMap((s) => s.results ?? []);
  return [
    ...resultsByproducts(tr.status?.results ?? [], (r) => `taskRunResults/${name}/${r}`),
    ...resultsByproducts(stepResults, (r) => `stepResults/${name}/${r}`),
  ];
}

/** chains external_parameters: the run's spec, and buildConfigSource when the task/pipeline came from a resolver. */
function externalParameters(spec: object | undefined, ref: RefLike | undefined, provenance: RunProvenanceLike | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const refSource = provenance?.refSource;
  if (refSource && ref?.resolver) {
    const [alg, hex] = Object.entries(refSource.digest ?? {})[0] ?? [];
    out['buildConfigSource'] = { ref: alg === undefined ? '' : `${alg}:${hex ?? ''}`, repository: refSource.uri ?? '', path: refSource.entryPoint ?? '' };
  }
  out['runSpec'] = spec === undefined ? {} : dropEmptyLists(structuredClone(spec));
  return out;
}

/**
 * Chains marshals the spec through Tekton's Go structs, whose list fields are `omitempty`: `"params": []` disappears.
 * Param values and defaults are the exception (ParamValue marshals itself, so an empty array param stays `[]`).
 */
function dropEmptyLists(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropEmptyLists);
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v) && v.length === 0 && k !== 'value' && k !== 'default') continue;
    out[k] = k === 'value' || k === 'default' ? v : dropEmptyLists(v);
  }
  return out;
}

/** chains internal_parameters: feature flags; slsa-tekton adds labels and annotations (null when absent, as Go's nil map). */
function internalParameters(run: TaskRunLike | PipelineRunLike, buildType: BuildType): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const flags = run.status?.provenance?.featureFlags;
  if (flags) out['tekton-pipelines-feature-flags'] = normalizeFeatureFlags(flags);
  if (buildType === BUILD_TYPE_SLSA_TEKTON) {
    out['labels'] = run.metadata?.labels ? { ...run.metadata.labels } : null;
    out['annotations'] = run.metadata?.annotations ? { ...run.metadata.annotations } : null;
  }
  return out;
}

/**
 * What Chains' json round trip through pipeline's FeatureFlags struct does to the flags: keys as the struct's json
 * tags (Go names with the first letter lowercased: `EnableAPIFields` -> `enableAPIFields`, matched case-insensitively
 * as Go does) and zero values left out (omitempty).
 */
export function normalizeFeatureFlags(flags: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flags)) {
    if (value === false || value === '' || value === 0 || value === null || value === undefined) continue;
    out[key.charAt(0).toLowerCase() + key.slice(1)] = structuredClone(value);
  }
  return out;
}

function runMetadata(run: TaskRunLike | PipelineRunLike, where: string): SlsaProvenanceV1['runDetails']['metadata'] {
  const out: SlsaProvenanceV1['runDetails']['metadata'] = {};
  if (run.metadata?.uid) out.invocationId = run.metadata.uid;
  if (run.status?.startTime) out.startedOn = protoTimestamp(run.status.startTime, `${where} status.startTime`);
  if (run.status?.completionTime) out.finishedOn = protoTimestamp(run.status.completionTime, `${where} status.completionTime`);
  return out;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** A Kubernetes (RFC 3339) time as protojson renders a Timestamp: UTC, `Z`, 0, 3, 6 or 9 fractional digits. */
export function protoTimestamp(value: string, where: string): string {
  const m = RFC3339.exec(value);
  if (!m) throw new VouchError('PROVENANCE_INPUT_INVALID', `${where}: not an RFC 3339 time: ${JSON.stringify(value.slice(0, 64))}`);
  const [y, mo, d, h, mi, s] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(local);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new VouchError('PROVENANCE_INPUT_INVALID', `${where}: not a valid date and time: ${JSON.stringify(value)}`);
  }
  const offsetMinutes = m[8] ? 0 : (m[9] === '-' ? -1 : 1) * (Number(m[10]) * 60 + Number(m[11]));
  const utc = new Date(local - offsetMinutes * 60_000).toISOString().slice(0, 19);
  const nanos = (m[7] ?? '').padEnd(9, '0').slice(0, 9);
  const fraction = /^0+$/.test(nanos) ? '' : nanos.endsWith('000000') ? nanos.slice(0, 3) : nanos.endsWith('000') ? nanos.slice(0, 6) : nanos;
  return `${utc}${fraction ? `.${fraction}` : ''}Z`;
}

interface ChildGroup {
  pipelineTask: string;
  taskRuns: TaskRunLike[];
}

/** Child TaskRuns per pipeline task of status.pipelineSpec (tasks, then finally), as Chains' GetTaskRunsFromTask. */
function matchChildren(pr: PipelineRunLike, taskRuns: readonly TaskRunLike[], where: string, warn: Warn): ChildGroup[] {
  const spec = pr.status?.pipelineSpec;
  const refs = pr.status?.childReferences ?? [];
  const prName = pr.metadata?.name;
  const prUid = pr.metadata?.uid;
  const byTask = new Map<string, TaskRunLike[]>();
  for (const tr of taskRuns) {
    const name = tr.metadata?.name ?? '(unnamed)';
    const owner = tr.metadata?.labels?.[PIPELINE_RUN_LABEL];
    if (owner !== undefined && prName !== undefined && owner !== prName) {
      warn('CHILD_TASKRUN_UNMATCHED', `TaskRun ${name}`, `belongs to PipelineRun ${owner} (label ${PIPELINE_RUN_LABEL}), not ${prName}: ignored`);
      continue;
    }
    // A PipelineRun deleted and created again under the same name: the uid tells the runs apart.
    const ownerUid = tr.metadata?.labels?.[PIPELINE_RUN_UID_LABEL];
    if (ownerUid !== undefined && prUid !== undefined && ownerUid !== prUid) {
      warn('CHILD_TASKRUN_UNMATCHED', `TaskRun ${name}`, `belongs to PipelineRun uid ${ownerUid} (label ${PIPELINE_RUN_UID_LABEL}), not ${prUid}: ignored`);
      continue;
    }
    const task = tr.metadata?.labels?.[PIPELINE_TASK_LABEL] ?? refs.find((r) => r.name === tr.metadata?.name)?.pipelineTaskName;
    if (task === undefined) {
      warn('CHILD_TASKRUN_UNMATCHED', `TaskRun ${name}`, `has no ${PIPELINE_TASK_LABEL} label and is not in status.childReferences: ignored`);
      continue;
    }
    if (refs.length > 0 && !refs.some((r) => r.name === tr.metadata?.name)) {
      warn('CHILD_TASKRUN_UNMATCHED', `TaskRun ${name}`, `is not in ${where} status.childReferences (used for pipeline task ${task}, as Chains would)`);
    }
    if (!tr.status?.completionTime) warn('CHILD_TASKRUN_INCOMPLETE', `TaskRun ${name}`, 'no status.completionTime: left out, as Chains does');
    byTask.set(task, [...(byTask.get(task) ?? []), tr]);
  }
  for (const ref of refs) {
    if (ref.kind !== undefined && ref.kind !== 'TaskRun') continue;
    if (!taskRuns.some((tr) => tr.metadata?.name === ref.name)) {
      warn('CHILD_TASKRUN_MISSING', where, `child TaskRun ${ref.name} (pipeline task ${ref.pipelineTaskName ?? '?'}) was not given: its images, refs and results are missing from the provenance`);
    }
  }
  if (!spec) {
    if (taskRuns.length > 0) warn('CHILD_TASKRUN_UNMATCHED', where, 'no status.pipelineSpec: Chains reads children through it, so none is used');
    return [];
  }
  const groups: ChildGroup[] = [];
  const used = new Set<string>();
  for (const t of [...(spec.tasks ?? []), ...(spec.finally ?? [])]) {
    used.add(t.name);
    const trs = byTask.get(t.name);
    if (trs) groups.push({ pipelineTask: t.name, taskRuns: trs });
  }
  for (const [task, trs] of byTask) {
    if (used.has(task)) continue;
    for (const tr of trs) warn('CHILD_TASKRUN_UNMATCHED', `TaskRun ${tr.metadata?.name ?? '(unnamed)'}`, `pipeline task ${task} is not in ${where} status.pipelineSpec: ignored`);
  }
  return groups;
}

function finish(p: {
  subjects: Artifact[];
  buildType: BuildType;
  externalParameters: Record<string, unknown>;
  internalParameters: Record<string, unknown>;
  resolvedDependencies: ProvenanceResourceDescriptor[];
  builderId: string;
  metadata: SlsaProvenanceV1['runDetails']['metadata'];
  byproducts: ProvenanceResourceDescriptor[];
  where: string;
  warnings: Warnings;
}): ProvenanceResult {
  const predicate: SlsaProvenanceV1 = {
    buildDefinition: {
      buildType: p.buildType,
      externalParameters: p.externalParameters,
      internalParameters: p.internalParameters,
      ...(p.resolvedDependencies.length > 0 ? { resolvedDependencies: p.resolvedDependencies } : {}),
    },
    runDetails: {
      builder: { id: p.builderId },
      metadata: p.metadata,
      ...(p.byproducts.length > 0 ? { byproducts: p.byproducts } : {}),
    },
  };
  const statement: ProvenanceStatement = {
    _type: STATEMENT_TYPE_V1,
    ...(p.subjects.length > 0 ? { subject: p.subjects.map((s) => ({ name: s.name, digest: s.digest })) } : {}),
    predicateType: SLSA_PROVENANCE_V1,
    predicate,
  };
  if (p.subjects.length === 0) {
    p.warnings.add('NO_SUBJECTS', p.where, 'no result names a built artifact (IMAGE_URL/IMAGE_DIGEST, IMAGES, *ARTIFACT_OUTPUTS): the statement has no subject and must not be signed');
  } else {
    validateStatement(statement, `provenance of ${p.where}`, { requireName: true, versions: [STATEMENT_TYPE_V1] });
  }
  const problems = checkProvenanceSchema(statement).filter((problem) => !problem.startsWith('/subject:'));
  if (problems.length > 0) p.warnings.add('SCHEMA_INVALID', p.where, `the statement does not validate against the SLSA v1 schema: ${problems.join('; ')}`);
  return { statement, warnings: p.warnings.list };
}

/** Warnings that mean the statement must not be signed: it would not be a valid SLSA v1 attestation. */
export const BLOCKING_WARNINGS: readonly ProvenanceWarningCode[] = ['NO_SUBJECTS', 'SCHEMA_INVALID'];

/** True when the statement may be signed (no blocking warning); the other warnings are still worth reporting. */
export function isSignable(result: ProvenanceResult): boolean {
  return !result.warnings.some((w) => BLOCKING_WARNINGS.includes(w.code));
}

// ---- input checks (objects come from the API server, the runner or a file: check what we read) ---------------------

/** metadata.name of an object not yet checked, for error messages. */
function nameOf(run: unknown): string | undefined {
  if (!isRecord(run) || !isRecord(run['metadata'])) return undefined;
  const name = run['metadata']['name'];
  return typeof name === 'string' ? name : undefined;
}

function invalid(where: string, path: string, why: string): VouchError {
  return new VouchError('PROVENANCE_INPUT_INVALID', `${where}: ${path}: ${why}`, { details: { path } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optRecord(obj: Record<string, unknown>, key: string, where: string, path: string): Record<string, unknown> | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw invalid(where, `${path}${key}`, 'must be an object');
  return v;
}

function optString(obj: Record<string, unknown>, key: string, where: string, path: string): void {
  const v = obj[key];
  if (v !== undefined && v !== null && typeof v !== 'string') throw invalid(where, `${path}${key}`, 'must be a string');
}

function optStringMap(obj: Record<string, unknown>, key: string, where: string, path: string): void {
  const m = optRecord(obj, key, where, path);
  for (const [k, v] of Object.entries(m ?? {})) if (typeof v !== 'string') throw invalid(where, `${path}${key}.${k}`, 'must be a string');
}

function optNamedList(obj: Record<string, unknown>, key: string, where: string, path: string): Record<string, unknown>[] {
  const v = obj[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(where, `${path}${key}`, 'must be an array');
  return v.map((item: unknown, i) => {
    if (!isRecord(item)) throw invalid(where, `${path}${key}[${i}]`, 'must be an object');
    if (typeof item['name'] !== 'string') throw invalid(where, `${path}${key}[${i}].name`, 'must be a string');
    return item;
  });
}

function checkCommon(run: unknown, where: string): { spec: Record<string, unknown> | undefined; status: Record<string, unknown> | undefined } {
  if (!isRecord(run)) throw invalid(where, '(root)', 'must be an object');
  const metadata = optRecord(run, 'metadata', where, '');
  if (metadata) {
    for (const k of ['name', 'namespace', 'uid']) optString(metadata, k, where, 'metadata.');
    optStringMap(metadata, 'labels', where, 'metadata.');
    optStringMap(metadata, 'annotations', where, 'metadata.');
  }
  const spec = optRecord(run, 'spec', where, '');
  if (spec) optNamedList(spec, 'params', where, 'spec.');
  const status = optRecord(run, 'status', where, '');
  if (status) {
    optString(status, 'startTime', where, 'status.');
    optString(status, 'completionTime', where, 'status.');
    optNamedList(status, 'results', where, 'status.');
    const provenance = optRecord(status, 'provenance', where, 'status.');
    if (provenance) {
      optRecord(provenance, 'featureFlags', where, 'status.provenance.');
      const refSource = optRecord(provenance, 'refSource', where, 'status.provenance.');
      if (refSource) {
        optString(refSource, 'uri', where, 'status.provenance.refSource.');
        optString(refSource, 'entryPoint', where, 'status.provenance.refSource.');
        optStringMap(refSource, 'digest', where, 'status.provenance.refSource.');
      }
    }
  }
  return { spec, status };
}

function checkTaskRun(tr: unknown, where: string): void {
  const { spec, status } = checkCommon(tr, where);
  if (spec) optRecord(spec, 'taskRef', where, 'spec.');
  if (!status) return;
  const steps = status['steps'];
  if (steps !== undefined && steps !== null) {
    if (!Array.isArray(steps)) throw invalid(where, 'status.steps', 'must be an array');
    steps.forEach((step: unknown, i) => {
      if (!isRecord(step)) throw invalid(where, `status.steps[${i}]`, 'must be an object');
      optString(step, 'name', where, `status.steps[${i}].`);
      optNamedList(step, 'results', where, `status.steps[${i}].`);
    });
  }
  const sidecars = status['sidecars'];
  if (sidecars !== undefined && sidecars !== null && (!Array.isArray(sidecars) || !sidecars.every(isRecord))) throw invalid(where, 'status.sidecars', 'must be an array of objects');
  const taskSpec = optRecord(status, 'taskSpec', where, 'status.');
  if (taskSpec) optNamedList(taskSpec, 'params', where, 'status.taskSpec.');
}

function checkPipelineRun(pr: unknown, where: string): void {
  const { spec, status } = checkCommon(pr, where);
  if (spec) optRecord(spec, 'pipelineRef', where, 'spec.');
  if (!status) return;
  const pipelineSpec = optRecord(status, 'pipelineSpec', where, 'status.');
  if (pipelineSpec) {
    optNamedList(pipelineSpec, 'params', where, 'status.pipelineSpec.');
    optNamedList(pipelineSpec, 'tasks', where, 'status.pipelineSpec.');
    optNamedList(pipelineSpec, 'finally', where, 'status.pipelineSpec.');
  }
  optNamedList(status, 'childReferences', where, 'status.');
}
