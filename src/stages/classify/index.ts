// Stage `classify`: the risk tier of a change (low, medium, high) under the BASE revision's policy (`risk`,
// `approvals` sections), with every reason; what approvals it needs; the reviewer brief. Writes the risk assessment
// predicate body (risk-assessment.json, https://vouch.dev/attestation/risk-assessment/v0.1, docs/predicates.md),
// brief.md and input.json (the CEL input, to write custom rules against) to its report directory. The facts come
// from git (never from files in the workspace a step could have rewritten); docs/risk.md.

import { isAbsolute, relative, resolve } from 'node:path';
import { readFile } from 'node:fs/promises';
import { sha256Hex } from '../../common/digest.ts';
import { VouchError } from '../../common/errors.ts';
import { RISK_ASSESSMENT_V01 } from '../../attest/predicates.ts';
import { celInput, checkAccount, classify, normalizeAccount, rationaleFromTranscript, renderBrief, requirementFor, type BriefInput, type Classification, type ClassifyInput, type Policy, type Requirement, type RiskReason, type Tier } from '../../policy/index.ts';
import { evidence, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { git, policyAtBase, resolveCommit, runGit } from '../git.ts';
import { changedFileFacts, commitFacts, dependencyFacts, testFacts, workspaceReports } from './facts.ts';

export const ASSESSMENT_FILE = 'risk-assessment.json';
export const BRIEF_FILE = 'brief.md';
/** Where the agent-run stage leaves the agent's Claude Code stream-json transcript (the `transcript` param's default). */
export const DEFAULT_TRANSCRIPT = '.vouch/reports/agent-run/transcript.jsonl';

/** The risk assessment predicate body (CONTRACTS.md; docs/predicates.md). */
export interface RiskAssessmentPredicate {
  tier: Tier;
  reasons: RiskReason[];
  requiredApprovals: Requirement;
  policy: { digest: { sha256: string }; revision: string; source: string };
  baseRevision: string;
  headRevision: string;
  repository: string;
  pullRequest: string;
  changedFiles: number;
  changedLines: number;
  /** e-mails of the change's authors and committers (they never approve it) */
  authors: string[];
  /** e-mails on commits with the agent trailer */
  agentAuthors: string[];
  /** forge accounts ("<forge>:<login>", lower case) of who requested the change (they never approve it either) */
  requestedBy: string[];
}

/** Tekton's results share 4 KiB: the reasons result keeps the highest ones and says how many were left out. */
const REASONS_RESULT_BYTES = 2000;

function reasonsResult(reasons: RiskReason[]): string {
  const lines = reasons.map((r) => `${r.tier} ${r.rule}: ${r.detail}`.slice(0, 300));
  const kept: string[] = [];
  for (const line of lines) {
    const next = JSON.stringify([...kept, line, `and ${String(lines.length)} more in the report`]);
    if (Buffer.byteLength(next) > REASONS_RESULT_BYTES) break;
    kept.push(line);
  }
  if (kept.length < lines.length) kept.push(`and ${String(lines.length - kept.length)} more in the report`);
  return JSON.stringify(kept);
}

export interface Assessment {
  predicate: RiskAssessmentPredicate;
  classification: Classification;
  input: ClassifyInput;
  policy: Policy;
}

/**
 * The `requested-by` param: forge accounts separated by commas or spaces (the pipeline's param; the GitHub
 * TriggerBinding gives "github:<pull request author>"), lower-cased, sorted, without duplicates.
 */
export function parseRequestedBy(value: string): string[] {
  const accounts = value.split(/[\s,]+/).filter((a) => a !== '');
  for (const a of accounts) {
    const bad = checkAccount(a);
    if (bad !== undefined) throw new VouchError('STAGE_USAGE', `--requested-by ${JSON.stringify(a)}: ${bad}`);
  }
  return [...new Set(accounts.map(normalizeAccount))].sort();
}

/** Gathers the facts of base..head and classifies them under the base revision's policy. */
export async function assess(source: string, params: { base: string; head: string; repository: string; pullRequest: string; lockfile: string; requestedBy?: string[] }): Promise<Assessment> {
  const base = await resolveCommit(source, params.base);
  const head = await resolveCommit(source, params.head);
  const { policy, source: policySource, sha256: policyDigest } = await policyAtBase(source, base);
  const files = await changedFileFacts(source, base, head);
  const commits = await commitFacts(source, base, head, policy.clone['agent-trailer']);
  const reports = await workspaceReports(source, ['classify', 'gate']);
  // a brief made afresh from git (vouch brief --base --head) knows no requester
  const requestedBy = params.requestedBy ?? [];
  const input: ClassifyInput = {
    repository: params.repository,
    pullRequest: params.pullRequest,
    requestedBy,
    baseRevision: base,
    headRevision: head,
    files,
    commits,
    dependencies: await dependencyFacts(source, base, head, params.lockfile),
    tests: await testFacts(source, base, head, files),
    stages: reports.stages,
  };
  const classification = classify(input, policy.risk);
  const emails = (list: string[]): string[] => [...new Set(list.filter((e) => e !== '').map((e) => e.toLowerCase()))].sort();
  const predicate: RiskAssessmentPredicate = {
    tier: classification.tier,
    reasons: classification.reasons,
    requiredApprovals: requirementFor(classification.tier, policy.approvals),
    // the file's bytes; with no file, the defaults this version of vouch documents. The gate holds the policy it reads
    // to this digest: classify runs before any of the change's code, later steps could rewrite the workspace's .git
    policy: { digest: { sha256: policyDigest }, revision: base, source: policySource },
    baseRevision: base,
    headRevision: head,
    repository: params.repository,
    pullRequest: params.pullRequest,
    changedFiles: files.length,
    changedLines: classification.changedLines,
    authors: emails(commits.flatMap((c) => [c.authorEmail, c.committerEmail])),
    agentAuthors: emails(commits.filter((c) => c.agent).flatMap((c) => [c.authorEmail, c.committerEmail])),
    requestedBy,
  };
  return { predicate, classification, input, policy };
}

/** A path param inside the source workspace. */
function inside(source: string, p: string, param: string): string {
  const full = isAbsolute(p) ? p : resolve(source, p);
  const rel = relative(source, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new VouchError('STAGE_USAGE', `--${param} ${p} is outside the source workspace`);
  return full;
}

/** The brief's input from an assessment plus what the workspace holds (other stages' reports, the agent transcript). */
export async function briefInput(source: string, a: Assessment, transcript: string): Promise<BriefInput> {
  const reports = await workspaceReports(source, ['classify', 'gate']);
  let agentRationale: string | undefined;
  const transcriptPath = inside(source, transcript, 'transcript');
  try {
    agentRationale = rationaleFromTranscript(await readFile(transcriptPath, 'utf8'));
  } catch {
    // no transcript (no agent-run stage): the section is left out
  }
  const p = a.predicate;
  return {
    repository: p.repository,
    pullRequest: p.pullRequest,
    baseRevision: p.baseRevision,
    headRevision: p.headRevision,
    tier: p.tier,
    reasons: p.reasons,
    requirement: p.requiredApprovals,
    categories: a.classification.categories,
    changedLines: p.changedLines,
    dependencies: a.input.dependencies,
    vulnerabilities: reports.vulnerabilities,
    tests: a.input.tests,
    gates: reports.gates,
    agentRationale,
    agentTranscript: agentRationale === undefined ? undefined : transcript,
    requestedBy: p.requestedBy,
  };
}

/** The repository URL: the param, or the workspace's origin remote. */
async function repositoryOf(source: string, param: string | undefined): Promise<string> {
  if (param) return param;
  const r = await runGit(['config', '--get', 'remote.origin.url'], { cwd: source });
  return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : (await git(['rev-parse', '--show-toplevel'], { cwd: source })).trim();
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const pullRequest = ctx.params['pull-request'] ?? '';
  if (pullRequest !== '' && !/^[0-9]{1,12}$/.test(pullRequest)) throw new VouchError('STAGE_USAGE', `--pull-request ${pullRequest}: a pull request number`);
  const a = await assess(ctx.source, {
    base: ctx.params['base-revision'] ?? '',
    head: ctx.params['head-revision'] ?? '',
    repository: await repositoryOf(ctx.source, ctx.params['repository']),
    pullRequest,
    lockfile: ctx.params['lockfile'] ?? 'package-lock.json',
    requestedBy: parseRequestedBy(ctx.params['requested-by'] ?? ''),
  });
  const assessmentJson = JSON.stringify(a.predicate, null, 2) + '\n';
  const digest = sha256Hex(assessmentJson);
  const brief = renderBrief(await briefInput(ctx.source, a, ctx.params['transcript'] ?? DEFAULT_TRANSCRIPT));
  const p = a.predicate;
  ctx.log.info({ tier: p.tier, reasons: p.reasons.length, requiredApprovals: p.requiredApprovals, policy: p.policy.source }, `risk: ${p.tier}`);
  // RISK_EVIDENCE: the framework writes the assessment file and the result; the sidecar signs it (docs/sidecar.md)
  evidence(ctx, 'RISK_EVIDENCE', RISK_ASSESSMENT_V01, assessmentJson, { file: ASSESSMENT_FILE });
  return {
    results: {
      RISK_TIER: p.tier,
      RISK_REASONS: reasonsResult(p.reasons),
      REQUIRED_APPROVALS: JSON.stringify(p.requiredApprovals),
    },
    gate: { passed: true, reasons: p.reasons.map((r) => `${r.tier} ${r.rule}: ${r.detail}`) },
    files: { [BRIEF_FILE]: brief, 'input.json': JSON.stringify(celInput(a.input, a.classification.categories), (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v), 2) + '\n' },
    report: { tier: p.tier, requiredApprovals: p.requiredApprovals, policy: p.policy.source, assessment: { file: ASSESSMENT_FILE, digest: `sha256:${digest}`, predicateType: RISK_ASSESSMENT_V01 } },
  };
}

export const classifyStage: Stage = {
  name: 'classify',
  description: 'risk tier of the change (low/medium/high) under the base revision\'s policy, with reasons, required approvals and the reviewer brief',
  params: [
    { name: 'base-revision', description: 'the base commit of the change (its policy applies)', required: true },
    { name: 'head-revision', description: 'the head commit of the change', required: true },
    { name: 'repository', description: 'the repository URL the approvals are bound to (default: the workspace\'s origin remote)' },
    { name: 'pull-request', description: 'the pull request number, or empty', default: '' },
    { name: 'lockfile', description: 'npm lockfile whose dependency diff is a risk signal', default: 'package-lock.json' },
    { name: 'transcript', description: 'the agent\'s Claude Code stream-json transcript, relative to the workspace (brief only; absent: no rationale section)', default: DEFAULT_TRANSCRIPT },
    { name: 'requested-by', description: 'forge accounts "<forge>:<login>" of who requested the change (the pull request\'s author; comma-separated); they never approve it', default: '' },
  ],
  results: [
    { name: 'RISK_TIER', description: 'low, medium or high' },
    { name: 'RISK_REASONS', description: 'array: "<tier> <rule>: <detail>", highest first' },
    { name: 'REQUIRED_APPROVALS', description: '{"count": N, "groups": {"security": 1}}' },
    { name: 'RISK_EVIDENCE', description: 'object: predicateType, uri and digest of the risk assessment predicate file' },
  ],
  run,
};
