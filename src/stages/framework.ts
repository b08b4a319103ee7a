// The stage framework: what every `vouch task <stage>` shares (see the overview at the top of index.ts).
// A stage computes everything first and writes nothing; the framework then checks the results against Tekton's
// limit, lets the stage finalize (e.g. move a checkout into place), writes the report directory with one rename and
// each result with write-then-rename. A failure before that point leaves the workspace and results untouched.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { evidenceArtifact, evidenceUri, EMPTY_CONFIG, OCI_MANIFEST_MEDIA_TYPE, parseEvidenceRepository } from '../attest/evidence-artifact.ts';
import { isEvidencePredicateType, EVIDENCE_RESULTS } from '../attest/predicates.ts';
import { VouchError, errorMessage, isVouchError } from '../common/errors.ts';
import { logger, type Logger } from '../common/log.ts';
import { dockerConfigCredentials } from '../common/oci/dockerconfig.ts';
import { RegistryClient } from '../common/oci/registry.ts';
import { MAX_TERMINATION_MESSAGE_BYTES, terminationMessage } from '../tekton/results.ts';

/** Where a stage's report lives inside the source workspace. */
export const REPORTS_DIR = '.vouch/reports';

export interface StageParamSpec {
  /** the Tekton param name; also the CLI flag (`--<name>`) */
  name: string;
  description: string;
  required?: boolean;
  default?: string;
}

export interface StageResultSpec {
  /** the Tekton result name; the Task passes `--result NAME=$(results.NAME.path)` */
  name: string;
  description: string;
}

export interface StageContext {
  stage: string;
  /** param values by Tekton name (defaults applied; optional params absent are undefined) */
  params: Readonly<Record<string, string | undefined>>;
  /** absolute path of the source workspace */
  source: string;
  /** absolute path of this stage's report directory (written by the framework from StageOutcome.files) */
  reportDir: string;
  log: Logger;
  now: Date;
}

export interface GateVerdict {
  passed: boolean;
  /** why it failed (or what was notable): always logged and written to report.json */
  reasons: string[];
}

export interface StageOutcome {
  /** raw text of each result, written verbatim (Tekton does not trim); only declared names */
  results: Record<string, string>;
  gate: GateVerdict;
  /** files of the report directory by relative name; report.json is added by the framework */
  files: Record<string, string | Uint8Array>;
  /** stage-specific summary, merged into report.json */
  report: Record<string, unknown>;
  /** runs after every check passed and before anything is written (e.g. move a checkout into the workspace) */
  finalize?: () => Promise<void>;
  /** runs when the outcome is abandoned (a check failed): remove temporary state */
  discard?: () => Promise<void>;
}

export interface Stage {
  name: string;
  description: string;
  /** the stage fills an empty or missing workspace (clone); every other stage needs an existing one */
  createsSource?: boolean;
  params: StageParamSpec[];
  results: StageResultSpec[];
  run(ctx: StageContext): Promise<StageOutcome>;
}

export interface StageInvocation {
  params: Record<string, string | undefined>;
  /** the source workspace directory (`--source`) */
  source: string | undefined;
  /** result name -> path to write it to (`--result NAME=PATH`) */
  resultPaths: Record<string, string>;
  now?: Date;
}

export interface StageRunSummary {
  stage: string;
  passed: boolean;
  reasons: string[];
  reportDir: string;
  results: Record<string, string>;
}

/** A value with any URL's user:password@ removed: params are recorded in reports, credentials must not be. */
export function redactCredentials(value: string): string {
  return value.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}

/** Parses repeated `--result NAME=PATH` flags. */
export function parseResultFlags(flags: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0 || eq === flag.length - 1) throw new VouchError('STAGE_USAGE', `--result ${flag}: expected NAME=PATH`);
    const name = flag.slice(0, eq);
    if (name in out) throw new VouchError('STAGE_USAGE', `--result ${name} given twice`);
    out[name] = flag.slice(eq + 1);
  }
  return out;
}

/**
 * Params the framework adds to every stage that declares an `*_EVIDENCE` result: the OCI transport of its gate
 * evidence (docs/evidence.md). Empty repository: the predicate stays a file:// claim in the workspace.
 */
export const EVIDENCE_TRANSPORT_PARAMS: readonly StageParamSpec[] = [
  {
    name: 'evidence-repository',
    description: 'registry/repository to push gate evidence to as OCI artifacts (the sidecar fetches them by digest); empty: the evidence stays a file in the workspace',
    default: '',
  },
  {
    name: 'docker-config',
    description: 'directory holding a Docker config.json with the credentials for evidence-repository ($(workspaces.dockerconfig.path)); empty: anonymous',
    default: '',
  },
];

/** A stage's params as the CLI and Task see them: its own, plus the evidence transport's when it declares evidence. */
export function stageParams(stage: Stage): StageParamSpec[] {
  return stage.results.some((r) => EVIDENCE_RESULT_NAME.test(r.name)) ? [...stage.params, ...EVIDENCE_TRANSPORT_PARAMS] : [...stage.params];
}

/** Runs a stage: checks params, runs it, checks results, writes report and results. Throws VouchError on errors. */
export async function runStage(stage: Stage, inv: StageInvocation): Promise<StageRunSummary> {
  const log = logger('stages').child({ stage: stage.name });
  const params: Record<string, string | undefined> = {};
  const specs = stageParams(stage);
  for (const p of specs) {
    const v = inv.params[p.name] ?? p.default;
    if (p.required && (v === undefined || v === '')) throw new VouchError('STAGE_USAGE', `stage ${stage.name}: --${p.name} is required (${p.description})`);
    params[p.name] = v;
  }
  for (const name of Object.keys(inv.params)) {
    if (!specs.some((p) => p.name === name)) throw new VouchError('STAGE_USAGE', `stage ${stage.name}: unknown param "${name}"`);
  }
  const declared = new Set(stage.results.map((r) => r.name));
  for (const name of Object.keys(inv.resultPaths)) {
    if (!declared.has(name)) throw new VouchError('STAGE_USAGE', `stage ${stage.name}: --result ${name}: no such result (results: ${[...declared].join(', ')})`);
  }
  if (inv.source === undefined || inv.source === '') throw new VouchError('STAGE_USAGE', `stage ${stage.name}: --source DIR (the source workspace) is required`);
  const source = resolve(inv.source);
  if (!stage.createsSource && !existsSync(source)) {
    throw new VouchError('STAGE_REPO_NOT_FOUND', `stage ${stage.name}: the source workspace ${source} does not exist (run the clone stage first)`);
  }
  const reportDir = join(source, REPORTS_DIR, stage.name);
  const now = inv.now ?? new Date();

  const ctx: StageContext = { stage: stage.name, params, source, reportDir, log, now };
  const outcome = await stage.run(ctx);
  const declaredEv = declaredEvidence.get(ctx);
  const repository = params['evidence-repository'] ?? '';
  if (repository !== '' && declaredEv && declaredEv.size > 0) {
    // pushed before anything is written: a failed push leaves no result (never a silent fall back to file://)
    try {
      await pushEvidence(stage.name, declaredEv, repository, params['docker-config'] ?? '', log);
    } catch (err) {
      await outcome.discard?.();
      throw err;
    }
  }
  addEvidence(stage, outcome, declaredEv);
  const report = {
    stage: stage.name,
    timestamp: now.toISOString(),
    params: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, v === undefined ? v : redactCredentials(v)])),
    passed: outcome.gate.passed,
    reasons: outcome.gate.reasons,
    results: outcome.results,
    ...outcome.report,
  };
  // Order: check the results, stage each result file beside its path, let the stage finalize (clone moves its
  // checkout in), write the report directory, then publish the results by rename. Anything failing before the
  // report is in place leaves no report, no result and (via discard) no stage state behind.
  const staged: { tmp: string; path: string }[] = [];
  try {
    checkResults(stage, outcome.results);
    for (const [name, path] of Object.entries(inv.resultPaths)) {
      const raw = outcome.results[name];
      if (raw !== undefined) staged.push({ tmp: await stageFile(path, raw), path });
    }
    await outcome.finalize?.();
  } catch (err) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    await outcome.discard?.();
    throw err;
  }
  try {
    await writeDirAtomic(reportDir, { ...outcome.files, 'report.json': JSON.stringify(report, null, 2) + '\n' });
    for (const s of staged) await rename(s.tmp, s.path);
  } catch (err) {
    await Promise.all(staged.map((s) => rm(s.tmp, { force: true })));
    throw err instanceof VouchError ? err : new VouchError('STAGE_IO', `cannot write results: ${errorMessage(err)}`, { cause: err });
  }
  if (outcome.gate.passed) log.info({ reasons: outcome.gate.reasons, reportDir }, `stage ${stage.name}: passed`);
  else log.error({ reasons: outcome.gate.reasons, reportDir }, `stage ${stage.name}: FAILED: ${outcome.gate.reasons.join('; ')}`);
  return { stage: stage.name, passed: outcome.gate.passed, reasons: outcome.gate.reasons, reportDir, results: outcome.results };
}

// ---- gate evidence (CONTRACTS.md "Gate evidence") ------------------------------------------------------------------

/** Names of evidence results: the sidecar reads every `*_EVIDENCE` result of a TaskRun. */
export const EVIDENCE_RESULT_NAME = /^[A-Z][A-Z0-9_]*_EVIDENCE$/;
const EVIDENCE_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The value of an evidence result (a Tekton object result: all three are strings). */
export interface EvidenceRef {
  predicateType: string;
  /** file:// URL of the predicate file, absolute; or, pushed (evidence-repository), oci://<registry>/<repo>@sha256:<manifest> */
  uri: string;
  /** `sha256:<hex>` of the file's bytes */
  digest: string;
}

interface DeclaredEvidence {
  file: string;
  bytes: Buffer;
  value: string;
}

/** Evidence declared through evidence() during one stage run, by result name (the context identifies the run). */
const declaredEvidence = new WeakMap<StageContext, Map<string, DeclaredEvidence>>();

/**
 * Declares gate evidence in one line: `evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, predicate)`. The predicate
 * BODY (the in-toto `predicate` field) goes into the stage's report directory as `options.file` (default
 * `<name without _EVIDENCE, lowercase>.predicate.json`) and the object result `name` gets `{predicateType, uri,
 * digest}` naming that file, which the sidecar signs with the run's subjects. Like everything a stage produces, both
 * are written by runStage only once every check passed. `predicate` is an object (written as indented JSON) or the
 * exact bytes of a JSON object (e.g. a BOM whose digest is also a result). The stage must declare `name` in its
 * results (and the Task YAML as an object result with string properties predicateType, uri, digest).
 */
export function evidence(ctx: StageContext, name: string, predicateType: string, predicate: object | string | Uint8Array, options: { file?: string } = {}): EvidenceRef {
  if (!EVIDENCE_RESULT_NAME.test(name)) throw new VouchError('INTERNAL', `stage ${ctx.stage}: evidence result "${name}" must be named *_EVIDENCE (upper case)`);
  if (!isEvidencePredicateType(predicateType)) throw new VouchError('INTERNAL', `stage ${ctx.stage}: ${name}: ${predicateType} is not a gate evidence predicate type (src/attest/predicates.ts)`);
  // the sidecar accepts each type only under its own result name (EVIDENCE_RESULTS): fail here, not silently there
  if (!Object.hasOwn(EVIDENCE_RESULTS, name) || EVIDENCE_RESULTS[name] !== predicateType) throw new VouchError('INTERNAL', `stage ${ctx.stage}: ${name} does not carry ${predicateType} (src/attest/predicates.ts EVIDENCE_RESULTS)`);
  const file = options.file ?? `${name.slice(0, -'_EVIDENCE'.length).toLowerCase().replace(/_/g, '-')}.predicate.json`;
  if (!EVIDENCE_FILE_NAME.test(file) || file.includes('..')) throw new VouchError('INTERNAL', `stage ${ctx.stage}: ${name}: evidence file name ${JSON.stringify(file)} must be a plain file name`);
  let bytes: Buffer;
  if (typeof predicate === 'string' || predicate instanceof Uint8Array) {
    bytes = Buffer.from(predicate);
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new VouchError('INTERNAL', `stage ${ctx.stage}: ${name}: the predicate must be a JSON object`);
  } else {
    if (Array.isArray(predicate)) throw new VouchError('INTERNAL', `stage ${ctx.stage}: ${name}: the predicate must be a JSON object`);
    bytes = Buffer.from(JSON.stringify(predicate, null, 2) + '\n', 'utf8');
  }
  const ref: EvidenceRef = {
    predicateType,
    uri: pathToFileURL(join(ctx.reportDir, file)).href,
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
  };
  let declared = declaredEvidence.get(ctx);
  if (!declared) declaredEvidence.set(ctx, (declared = new Map<string, DeclaredEvidence>()));
  if (declared.has(name)) throw new VouchError('INTERNAL', `stage ${ctx.stage}: evidence ${name} declared twice`);
  if ([...declared.values()].some((d) => d.file === file)) throw new VouchError('INTERNAL', `stage ${ctx.stage}: ${name}: evidence file ${file} is used twice`);
  declared.set(name, { file, bytes, value: JSON.stringify(ref) });
  return ref;
}

/**
 * Pushes each declared predicate to `repository` as an OCI artifact (src/attest/evidence-artifact.ts) and points its
 * result at the manifest: `uri` = oci://<registry>/<repository>@sha256:<manifest>, `digest` still the predicate's own.
 * Blobs first, the manifest last (the commit point), under a deterministic tag so registries that collect untagged
 * manifests keep it. Credentials come from `<dockerConfig>/config.json`, never logged.
 */
async function pushEvidence(stage: string, declared: Map<string, DeclaredEvidence>, repository: string, dockerConfig: string, log: Logger): Promise<void> {
  let target: string;
  try {
    target = parseEvidenceRepository(repository);
  } catch (err) {
    throw new VouchError('STAGE_USAGE', `stage ${stage}: --evidence-repository: ${errorMessage(err)}`);
  }
  const slash = target.indexOf('/');
  const registry = target.slice(0, slash);
  const repo = target.slice(slash + 1);
  const credentials = dockerConfig === '' ? undefined : await dockerConfigCredentials(dockerConfig, registry, 'STAGE_INPUT_INVALID');
  const client = new RegistryClient({ registry, ...(credentials ? { credentials } : {}) });
  for (const [name, d] of declared) {
    const ref = JSON.parse(d.value) as EvidenceRef;
    const artifact = evidenceArtifact({ predicate: d.bytes, predicateType: ref.predicateType, stage, result: name, file: d.file });
    try {
      await client.putBlob(repo, EMPTY_CONFIG);
      await client.putBlob(repo, d.bytes);
      await client.putManifest(repo, artifact.tag, artifact.manifest, OCI_MANIFEST_MEDIA_TYPE);
    } catch (err) {
      // the usual cause under `vouch run`: a sandboxed step has no network unless the task is allowed it
      const hint = isVouchError(err, 'STORE_UNAVAILABLE') ? ' (a step needs network to push: under vouch run, --allow-network for this task)' : '';
      throw new VouchError('STAGE_EVIDENCE_PUSH_FAILED', `stage ${stage}: cannot push gate evidence ${name} to ${target}: ${errorMessage(err)}${hint}; no result was written`, { cause: err });
    }
    const uri = evidenceUri({ registry, repository: repo, digest: artifact.manifestDigest });
    log.info({ result: name, uri, digest: ref.digest }, `gate evidence ${name} pushed`);
    d.value = JSON.stringify({ ...ref, uri } satisfies EvidenceRef);
  }
}

/** Folds declared evidence into the outcome: its files into the report directory, its results beside the others. */
function addEvidence(stage: Stage, outcome: StageOutcome, declared: Map<string, DeclaredEvidence> | undefined): void {
  for (const [name, d] of declared ?? []) {
    if (name in outcome.results) throw new VouchError('INTERNAL', `stage ${stage.name}: result ${name} is both evidence and a plain result`);
    const other = outcome.files[d.file];
    if (other !== undefined && !Buffer.from(other).equals(d.bytes)) throw new VouchError('INTERNAL', `stage ${stage.name}: report file ${d.file} is both evidence ${name} and something else`);
    outcome.results[name] = d.value;
    outcome.files[d.file] = d.bytes;
  }
}

/** Every result declared, and all of them together within Tekton's termination-message limit. */
function checkResults(stage: Stage, results: Record<string, string>): void {
  const declared = new Set(stage.results.map((r) => r.name));
  for (const name of Object.keys(results)) {
    if (!declared.has(name)) throw new VouchError('INTERNAL', `stage ${stage.name} produced undeclared result "${name}"`);
  }
  // the StartedAt entry Tekton adds is part of the size; use a fixed date of the same length
  const message = terminationMessage(Object.entries(results).map(([name, raw]) => ({ name, raw })), new Date(0));
  const size = Buffer.byteLength(message, 'utf8');
  if (size > MAX_TERMINATION_MESSAGE_BYTES) {
    throw new VouchError(
      'STAGE_RESULT_TOO_LARGE',
      `stage ${stage.name}: results take ${size} bytes as a Tekton termination message, above the ${MAX_TERMINATION_MESSAGE_BYTES}-byte limit; nothing was written`,
      { details: { size, limit: MAX_TERMINATION_MESSAGE_BYTES } },
    );
  }
}

/** Writes content to a temporary sibling of `path` and returns its name (rename it to `path` to publish). */
async function stageFile(path: string, content: string | Uint8Array): Promise<string> {
  const tmp = `${path}.tmp-${String(process.pid)}-${Math.random().toString(36).slice(2)}`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(tmp, content);
    return tmp;
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new VouchError('STAGE_IO', `cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Writes a file via a temporary sibling and a rename, so readers never see half of it. */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const tmp = await stageFile(path, content);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new VouchError('STAGE_IO', `cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Replaces directory `dir` with one holding `files`, built beside it and renamed into place. */
export async function writeDirAtomic(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  const parent = dirname(dir);
  let tmp = '';
  try {
    await mkdir(parent, { recursive: true });
    tmp = await mkdtemp(join(parent, '.tmp-'));
    for (const [name, content] of Object.entries(files)) {
      const path = resolve(tmp, name);
      if (!path.startsWith(tmp + '/')) throw new Error(`report file name ${name} leaves the report directory`);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, content);
    }
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (err) {
    if (tmp) await rm(tmp, { recursive: true, force: true });
    throw new VouchError('STAGE_IO', `cannot write report directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Konflux ADR-0030 TEST_OUTPUT result values; precedence ERROR > FAILURE > WARNING > SKIPPED > SUCCESS. */
export type TestOutcome = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'ERROR';

export interface TestOutputInput {
  result: TestOutcome;
  namespace: string;
  successes: number;
  failures: number;
  warnings: number;
  note: string;
  timestamp: Date;
}

/** The TEST_OUTPUT result text: `{"result","namespace","timestamp","successes","failures","warnings","note"}`. */
export function testOutput(t: TestOutputInput): string {
  for (const k of ['successes', 'failures', 'warnings'] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 0) throw new VouchError('INTERNAL', `TEST_OUTPUT ${k} must be a non-negative integer, got ${String(t[k])}`);
  }
  return JSON.stringify({
    result: t.result,
    namespace: t.namespace,
    // RFC 3339 at second precision, as Konflux tasks write it
    timestamp: t.timestamp.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    successes: t.successes,
    failures: t.failures,
    warnings: t.warnings,
    note: t.note,
  });
}

/** The TEST_OUTPUT outcome from counts: failures win, then warnings. */
export function outcomeOf(counts: { failures: number; warnings: number }): TestOutcome {
  if (counts.failures > 0) return 'FAILURE';
  if (counts.warnings > 0) return 'WARNING';
  return 'SUCCESS';
}
