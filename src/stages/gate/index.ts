// Stage `gate`: the human-in-the-loop gate (docs/risk.md). Takes the risk tier and the risk assessment digest from
// the classify task's RESULTS (a later step could rewrite the workspace, not another task's results), checks the
// assessment file against that digest, then waits, up to `timeout-seconds`, until the tier's approval requirement
// (base revision's policy) is met or a valid rejection arrives. Approvals come from the sidecar: over HTTP
// (`approvals` = its URL; the step needs the network: `vouch run --allow-network gate`, or the sidecar Service on a
// cluster) or from the sidecar's approvals directory (`approvals` = a path; locally the sandbox sees it read-only).
// Every approval is judged here, whatever the sidecar accepted: signature by the reviewer's key in the base policy,
// bound to this repository, pull request, head commit, PipelineRun and assessment, never by the agent or an author.
// A low change whose every gate passed needs no approval.

import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { readApprovalEnvelope, verifyApproval } from '../../attest/approval.ts';
import { parsePublicKey } from '../../attest/keys.ts';
import { prepareTrustedRoot, verifyBundle, type PreparedTrustedRoot } from '../../attest/verify.ts';
import { sha256Hex } from '../../common/digest.ts';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { evaluateApprovals, renderBrief, requirementFor, TIERS, type ApprovalCandidate, type ApprovalDecision, type Tier } from '../../policy/index.ts';
import { REPORTS_DIR, outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { policyAtBase, resolveCommit } from '../git.ts';
import { ASSESSMENT_FILE, DEFAULT_TRANSCRIPT, assess, briefInput, type RiskAssessmentPredicate } from '../classify/index.ts';

/** One approval as the sidecar keeps it: a Sigstore bundle (DSSE envelope + log entry). */
interface StoredApproval {
  bundle: { dsseEnvelope?: unknown } & Record<string, unknown>;
  logEntry?: { logIndex: number; uuid: string; url: string };
}

const RUN = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/;
/** Stored approvals read per poll; more and the gate fails closed (anyone with a key the sidecar takes can add some). */
export const MAX_STORED_APPROVALS = 5000;
/** Approvals signed by a policy reviewer judged per poll; more and the gate fails closed rather than judge a part. */
export const MAX_APPROVALS = 200;
/** Reasons kept in the report for approvals no policy reviewer signed (the rest are counted). */
const MAX_NOT_SIGNED_REASONS = 20;

/** What one poll read: the approvals, or how many there are when that is more than the gate will read. */
export type Fetched = { approvals: StoredApproval[] } | { tooMany: number };

/** Reads the approvals of a run from the sidecar's HTTP API or its approvals directory. */
export async function fetchApprovals(where: string, run: string, max = MAX_STORED_APPROVALS): Promise<Fetched> {
  const [ns, name] = run.split('/') as [string, string];
  let list: unknown;
  if (/^https?:\/\//.test(where)) {
    const url = `${where.replace(/\/+$/, '')}/approvals/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
    let res: Response;
    try {
      res = await fetch(url, { headers: { Accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new VouchError('STAGE_TOOL_FAILED', `GET ${url}: ${errorMessage(err)}`);
    }
    if (res.status !== 200) throw new VouchError('STAGE_TOOL_FAILED', `GET ${url}: HTTP ${String(res.status)}`);
    list = ((await res.json()) as { approvals?: unknown }).approvals;
  } else {
    const dir = join(where, ns, name);
    let files: string[] = [];
    try {
      files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new VouchError('STAGE_TOOL_FAILED', `cannot read ${dir}: ${errorMessage(err)}`);
    }
    if (files.length > max) return { tooMany: files.length };
    list = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as unknown));
  }
  if (!Array.isArray(list)) throw new VouchError('STAGE_TOOL_FAILED', `${where}: the approvals answer is not a list`);
  // never a prefix: an approval left out could be the rejection that ends the gate
  if (list.length > max) return { tooMany: list.length };
  return { approvals: list as StoredApproval[] };
}

interface Judged {
  /** only approvals whose signature verifies with the key the base policy gives the reviewer they name */
  candidates: ApprovalCandidate[];
  /** stored approvals by ref, to copy the counted ones into the report */
  byRef: Map<string, StoredApproval>;
  /** approvals that cannot even be read as one (reasons for the report) */
  unreadable: string[];
  /** approvals no policy reviewer's key signed: how many, and the first reasons */
  notSigned: { count: number; reasons: string[] };
}

/**
 * Turns stored approvals into candidates: statement read, signature checked with the named reviewer's policy key.
 * What no policy reviewer signed is set aside first, so that it cannot crowd out (or count towards a cap with) one
 * that did.
 */
export function judge(stored: readonly StoredApproval[], reviewers: { id: string; 'public-key': string }[], trustedRoot: PreparedTrustedRoot | undefined): Judged {
  const out: Judged = { candidates: [], byRef: new Map(), unreadable: [], notSigned: { count: 0, reasons: [] } };
  const keys = new Map(reviewers.map((r) => [r.id.toLowerCase(), { id: r.id, key: parsePublicKey(r['public-key'], `reviewer ${r.id}`) }]));
  stored.forEach((s, i) => {
    const ref = s.logEntry ? `log index ${String(s.logEntry.logIndex)}` : `approval #${String(i)}`;
    try {
      const { envelope, statement } = readApprovalEnvelope(s.bundle.dsseEnvelope, ref);
      const p = statement.predicate!;
      const reviewer = keys.get(p.reviewer.id.toLowerCase());
      if (!reviewer || !verifyApproval(envelope, reviewer.key)) {
        out.notSigned.count++;
        if (out.notSigned.reasons.length < MAX_NOT_SIGNED_REASONS) out.notSigned.reasons.push(`${ref}: ${reviewer ? `the signature does not verify with ${reviewer.id}'s key in the base revision's policy` : `${p.reviewer.id} is not a reviewer in the base revision's policy`}`);
        return;
      }
      // with the log's trusted root, the approval must also be provably in the log
      if (trustedRoot) verifyBundle({ bundle: s.bundle, artifact: { gitCommit: p.headCommit }, policy: { publicKey: reviewer.key }, trustedRoot });
      out.byRef.set(ref, s);
      out.candidates.push({
        decision: p.decision,
        reviewerId: p.reviewer.id,
        repository: p.repository,
        pullRequest: p.pullRequest,
        headCommit: p.headCommit,
        pipelineRun: p.pipelineRun,
        riskDigest: p.riskAssessment.digest.sha256,
        tier: p.riskAssessment.tier,
        timestamp: p.timestamp,
        ...(p.comment !== undefined ? { comment: p.comment } : {}),
        signedBy: reviewer.id,
        ref,
      });
    } catch (err) {
      out.unreadable.push(`${ref}: ${errorMessage(err)}`);
    }
  });
  return out;
}

/** `stage=<TEST_OUTPUT json>` lines: the verdicts of the other gates, as Tekton results passed in. */
export function parseGateResults(text: string): { stage: string; result: string }[] {
  const out: { stage: string; result: string }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    const stage = line.slice(0, eq).trim();
    if (eq <= 0 || !/^[a-z0-9-]+$/.test(stage)) throw new VouchError('STAGE_USAGE', `--gate-results: expected "stage=<TEST_OUTPUT>" lines, got ${JSON.stringify(line.slice(0, 80))}`);
    let result: unknown;
    try {
      result = (JSON.parse(line.slice(eq + 1)) as { result?: unknown }).result;
    } catch {
      throw new VouchError('STAGE_USAGE', `--gate-results: ${stage}: the TEST_OUTPUT is not JSON`);
    }
    if (typeof result !== 'string') throw new VouchError('STAGE_USAGE', `--gate-results: ${stage}: TEST_OUTPUT has no result`);
    out.push({ stage, result });
  }
  return out;
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const p = (n: string): string => ctx.params[n] ?? '';
  const base = await resolveCommit(ctx.source, p('base-revision'));
  const head = await resolveCommit(ctx.source, p('head-revision'));
  const pipelineRun = p('pipeline-run');
  if (!RUN.test(pipelineRun)) throw new VouchError('STAGE_USAGE', `--pipeline-run ${pipelineRun}: expected "<namespace>/<name>" ($(context.pipelineRun.namespace)/$(context.pipelineRun.name))`);
  const tier = p('risk-tier') as Tier;
  if (!TIERS.includes(tier)) throw new VouchError('STAGE_USAGE', `--risk-tier ${tier}: must be low, medium or high (the classify task's RISK_TIER)`);
  const want = /^sha256:([0-9a-f]{64})$/.exec(p('risk-digest'))?.[1];
  if (want === undefined) throw new VouchError('STAGE_USAGE', '--risk-digest must be sha256:<hex> (the classify task\'s RISK_EVIDENCE.digest)');
  const timeoutSeconds = Number(p('timeout-seconds'));
  const pollSeconds = Number(p('poll-seconds'));
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0 || !Number.isFinite(pollSeconds) || pollSeconds <= 0) throw new VouchError('STAGE_USAGE', '--timeout-seconds must be >= 0 and --poll-seconds > 0');

  // the assessment the reviewers approve: the file classify wrote, provably unchanged since (its digest is a result)
  const assessmentPath = join(ctx.source, REPORTS_DIR, 'classify', ASSESSMENT_FILE);
  let assessmentText: string;
  try {
    assessmentText = await readFile(assessmentPath, 'utf8');
  } catch (err) {
    throw new VouchError('STAGE_INPUT_INVALID', `cannot read the risk assessment ${assessmentPath} (run the classify stage first): ${errorMessage(err)}`);
  }
  if (sha256Hex(assessmentText) !== want) throw new VouchError('STAGE_INPUT_INVALID', `the risk assessment ${assessmentPath} is not the one classify reported (sha256 differs from --risk-digest): it was changed after classification`);
  const assessment = JSON.parse(assessmentText) as RiskAssessmentPredicate;
  if (assessment.tier !== tier || assessment.headRevision !== head || assessment.baseRevision !== base) {
    throw new VouchError('STAGE_INPUT_INVALID', `the risk assessment is for ${assessment.baseRevision}..${assessment.headRevision} (${assessment.tier}), not ${base}..${head} (${tier})`);
  }
  // the base policy as classify read it, before the change's code ran: git objects in the workspace could have been
  // rewritten since (a loose object overwritten, a pack swapped), and the digest is bound by --risk-digest
  const { policy, source: policySource, sha256: policyDigest } = await policyAtBase(ctx.source, base);
  if (policyDigest !== assessment.policy.digest.sha256) {
    throw new VouchError('STAGE_INPUT_INVALID', `the base policy ${policySource} in the workspace is not the one classify judged the change by (sha256 ${policyDigest}, the assessment has ${assessment.policy.digest.sha256}): the repository was changed after classification`);
  }
  const requirement = requirementFor(tier, policy.approvals);
  const gates = parseGateResults(p('gate-results'));
  const failedGates = gates.filter((g) => g.result === 'FAILURE' || g.result === 'ERROR');
  let trustedRoot: PreparedTrustedRoot | undefined;
  const rootParam = p('tlog-trusted-root');
  if (rootParam !== '') {
    // inline JSON: on a cluster the Pipeline passes the log's trusted root as a param value (no host file to name)
    const inline = rootParam.trimStart().startsWith('{');
    try {
      trustedRoot = prepareTrustedRoot(JSON.parse(inline ? rootParam : await readFile(rootParam, 'utf8')), inline ? 'the inline trusted root' : rootParam);
    } catch (err) {
      throw new VouchError('STAGE_INPUT_INVALID', `--tlog-trusted-root: ${errorMessage(err)}`);
    }
  }
  const ctxApproval = {
    repository: assessment.repository,
    pullRequest: assessment.pullRequest,
    headCommit: head,
    pipelineRun,
    riskDigest: want,
    tier,
    authors: assessment.authors,
    agentAuthors: assessment.agentAuthors,
    requestedBy: assessment.requestedBy,
  };

  let decision: ApprovalDecision | undefined;
  let judged: Judged = { candidates: [], byRef: new Map(), unreadable: [], notSigned: { count: 0, reasons: [] } };
  /** why the gate fails closed without deciding: more approvals than it will judge */
  let overLimit: string | undefined;
  let state: 'approved' | 'auto-approved' | 'rejected' | 'timed-out' | 'gates-failed';
  const reasons: string[] = [];
  const autoApprovable = requirement.count === 0 && Object.keys(requirement.groups).length === 0;
  if (failedGates.length > 0) {
    state = 'gates-failed';
    reasons.push(`gates failed: ${failedGates.map((g) => `${g.stage} (${g.result})`).join(', ')}`);
  } else if (autoApprovable && gates.length > 0) {
    state = 'auto-approved';
    reasons.push(`${tier} risk and every gate passed (${gates.map((g) => g.stage).join(', ')}): no human approval needed`);
  } else {
    // a low change with no gate verdicts passed in cannot be auto-approved: one human looks
    const effective = autoApprovable ? { ...policy.approvals, [tier]: 1 } : policy.approvals;
    if (autoApprovable) reasons.push('no gate results were given (--gate-results), so one approval is required');
    // without the log's root the gate can check signatures only; admission still requires approvals logged
    if (!trustedRoot) reasons.push('approvals were not checked against the transparency log (no tlog-trusted-root given): admission still requires them logged');
    // without a requester the account rule has nothing to compare: say so, rather than look as strict as a run with one
    if (ctxApproval.requestedBy.length === 0) reasons.push('who requested the change is not known (classify got no requested-by): only its commit authors and agents are kept from approving it');
    const where = p('approvals');
    if (where === '') throw new VouchError('STAGE_USAGE', `--approvals (the sidecar URL or its approvals directory) is required: the ${tier} tier needs approvals`);
    const deadline = Date.now() + timeoutSeconds * 1000;
    for (;;) {
      try {
        const fetched = await fetchApprovals(where, pipelineRun);
        if ('tooMany' in fetched) {
          overLimit = `${String(fetched.tooMany)} stored approvals for ${pipelineRun}, more than the ${String(MAX_STORED_APPROVALS)} the gate reads: failing closed`;
          break;
        }
        judged = judge(fetched.approvals, policy.reviewers.people, trustedRoot);
        if (judged.candidates.length > MAX_APPROVALS) {
          overLimit = `${String(judged.candidates.length)} approvals signed by policy reviewers, more than the ${String(MAX_APPROVALS)} the gate judges: failing closed`;
          break;
        }
        decision = evaluateApprovals(judged.candidates, ctxApproval, policy.reviewers, effective);
        if (decision.state !== 'waiting') break;
        ctx.log.info({ missing: decision.missing, refused: decision.refused.length }, 'waiting for approvals');
      } catch (err) {
        // the sidecar may be restarting: keep asking until the deadline
        ctx.log.warn({ err: errorMessage(err) }, 'cannot read approvals; retrying');
      }
      if (Date.now() + pollSeconds * 1000 > deadline) break;
      await sleep(pollSeconds * 1000);
    }
    if (overLimit !== undefined) decision = undefined;
    state = overLimit !== undefined ? 'rejected' : decision?.state === 'approved' ? 'approved' : decision?.state === 'rejected' ? 'rejected' : 'timed-out';
    if (overLimit !== undefined) reasons.push(overLimit);
    if (state === 'approved') reasons.push(`approved by ${decision!.approvedBy.join(', ')}`);
    if (state === 'rejected' && decision) reasons.push(`rejected by ${decision.rejectedBy.join(', ')}`);
    if (state === 'timed-out') reasons.push(`no decision within ${String(timeoutSeconds)} s: ${decision ? decision.missing.join('; ') : 'the approvals could not be read'}`);
    for (const r of decision?.refused ?? []) reasons.push(`approval by ${r.reviewer} (${r.ref}) does not count: ${r.reason}`);
    for (const u of judged.unreadable) reasons.push(`not an approval: ${u}`);
    for (const r of judged.notSigned.reasons) reasons.push(`does not count: ${r}`);
    if (judged.notSigned.count > judged.notSigned.reasons.length) reasons.push(`and ${String(judged.notSigned.count - judged.notSigned.reasons.length)} more approvals no policy reviewer signed`);
  }
  const passed = state === 'approved' || state === 'auto-approved';

  const counted = decision ? judged.candidates.filter((c) => c.signedBy !== undefined && (decision.approvedBy.includes(c.reviewerId) || decision.rejectedBy.includes(c.reviewerId)) && !decision.refused.some((r) => r.ref === c.ref)) : [];
  const files: Record<string, string> = {};
  counted.forEach((c, i) => {
    files[`approvals/${String(i)}.sigstore.json`] = JSON.stringify(judged.byRef.get(c.ref)!.bundle, null, 2) + '\n';
  });
  const a = await assess(ctx.source, { base, head, repository: assessment.repository, pullRequest: assessment.pullRequest, lockfile: p('lockfile') || 'package-lock.json', requestedBy: ctxApproval.requestedBy });
  const bi = await briefInput(ctx.source, a, p('transcript') || DEFAULT_TRANSCRIPT);
  files['brief.md'] = renderBrief({
    ...bi,
    tier,
    reasons: assessment.reasons,
    requirement,
    approvals: { state, approvedBy: decision?.approvedBy ?? [], rejectedBy: decision?.rejectedBy ?? [], missing: decision?.missing ?? [] },
  });
  const approvals = counted.map((c) => {
    const entry = judged.byRef.get(c.ref)!.logEntry;
    return { reviewer: c.reviewerId, decision: c.decision, logIndex: entry?.logIndex ?? null, uuid: entry?.uuid ?? null };
  });
  const failures = passed ? 0 : 1;
  return {
    results: {
      APPROVAL_STATE: state,
      APPROVED_BY: JSON.stringify(decision?.approvedBy ?? []),
      // bounded for Tekton's 4 KiB of results; report.json has them all
      APPROVALS: JSON.stringify(approvals.slice(0, 10)),
      TEST_OUTPUT: testOutput({ result: outcomeOf({ failures, warnings: 0 }), namespace: 'vouch.gate', successes: passed ? 1 : 0, failures, warnings: 0, note: `${tier} risk: ${state}${decision?.approvedBy.length ? ` by ${decision.approvedBy.join(', ')}` : ''}`.slice(0, 1000), timestamp: ctx.now }),
    },
    gate: { passed, reasons },
    files,
    report: { tier, state, policy: policySource, requirement, pipelineRun, riskAssessment: { digest: `sha256:${want}` }, approvedBy: decision?.approvedBy ?? [], rejectedBy: decision?.rejectedBy ?? [], refused: decision?.refused ?? [], notSigned: judged.notSigned, approvalsLogVerified: trustedRoot !== undefined, unreadable: judged.unreadable, approvals, gates },
  };
}

export const gateStage: Stage = {
  name: 'gate',
  description: 'wait for the approvals the risk tier needs (or a rejection); low risk with every gate passed needs none',
  params: [
    { name: 'base-revision', description: 'the base commit (its policy names the reviewers and the requirements)', required: true },
    { name: 'head-revision', description: 'the head commit approvals must be bound to', required: true },
    { name: 'pipeline-run', description: '"<namespace>/<name>" of this PipelineRun', required: true },
    { name: 'risk-tier', description: 'the classify task\'s RISK_TIER result', required: true },
    { name: 'risk-digest', description: 'the classify task\'s RISK_EVIDENCE.digest (sha256:<hex> of the risk assessment)', required: true },
    { name: 'approvals', description: 'where approvals are read: the sidecar URL (http...), or the sidecar\'s approvals directory', default: '' },
    { name: 'gate-results', description: 'one "stage=<TEST_OUTPUT>" line per gate task; all must pass for a low change to be auto-approved', default: '' },
    { name: 'timeout-seconds', description: 'how long to wait for approvals', default: '3600' },
    { name: 'poll-seconds', description: 'how often to look for new approvals', default: '10' },
    { name: 'tlog-trusted-root', description: 'trusted_root.json of the transparency log (a path, or the JSON itself): when given, every approval must verify as logged; empty: signatures only (the report says so)', default: '' },
    { name: 'transcript', description: 'the agent\'s stream-json transcript for the brief', default: DEFAULT_TRANSCRIPT },
    { name: 'lockfile', description: 'the npm lockfile (as classify was given it) for the brief\'s dependency section', default: 'package-lock.json' },
  ],
  results: [
    { name: 'APPROVAL_STATE', description: 'approved, auto-approved, rejected, timed-out or gates-failed' },
    { name: 'APPROVED_BY', description: 'JSON array of the reviewer identities whose approvals counted' },
    { name: 'APPROVALS', description: 'JSON array of {reviewer, decision, logIndex, uuid} of the approvals that counted (log entries)' },
    { name: 'TEST_OUTPUT', description: 'verdict in the Konflux TEST_OUTPUT convention' },
  ],
  run,
};
