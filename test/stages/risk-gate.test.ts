// The risk gate end to end over real git repositories: `vouch task classify` under the base policy, approvals
// signed with reviewers' keys and submitted to a real sidecar (HTTP, bearer token, embedded transparency log),
// `vouch task gate` reading them back over HTTP and from the sidecar's approvals directory.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';
import { join } from 'node:path';
import { expect } from 'chai';
import type { KeyObject } from 'node:crypto';
import { signApproval, type ApprovalPredicate } from '../../src/attest/approval.ts';
import { generateKeyPair, parsePrivateKey, publicKeyOf, publicKeyPem } from '../../src/attest/keys.ts';
import { verifyBundle } from '../../src/attest/verify.ts';
import { sha256Hex } from '../../src/common/digest.ts';
import { fetchApprovals, MAX_APPROVALS } from '../../src/stages/gate/index.ts';
import { ApprovalDesk, Sidecar, serveSidecar, type RunningServer } from '../../src/sidecar/index.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { rejectsWith } from '../helpers/errors.ts';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { quiet, TOKEN } from '../sidecar/helpers.ts';
import { commit, filesUnder, git, initRepo, runTaskInProcess } from './helpers.ts';
import { lockfile } from './npm-project.ts';

const REPO_URL = 'https://git.example/acme/shop.git';

interface Person {
  id: string;
  key: KeyObject;
  keyFile: string;
}

describe('risk gate: classify, approve, gate (real git repositories, a real sidecar)', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-risk-');
  let log: EmbeddedLog;
  let sidecar: Sidecar;
  let server: RunningServer;
  let desk: ApprovalDesk;
  let trustedRootFile: string;
  const people: Record<'alice' | 'sec' | 'bot' | 'author' | 'mallory', Person> = {} as never;
  let n = 0;

  before(async () => {
    for (const [name, id] of [['alice', 'alice@example.com'], ['sec', 'sec@example.com'], ['bot', 'bot@agents.example'], ['author', 'author@example.com'], ['mallory', 'mallory@example.com']] as const) {
      const pem = generateKeyPair().privateKeyPem;
      const keyFile = join(tmp(), `${name}.key`);
      writeFileSync(keyFile, pem, { mode: 0o600 });
      people[name] = { id, key: parsePrivateKey(pem, name), keyFile };
    }
    log = await EmbeddedLog.open(join(tmp(), 'tlog'), { logger: quiet });
    trustedRootFile = join(tmp(), 'trusted_root.json');
    writeFileSync(trustedRootFile, JSON.stringify(trustedRootFor(log)));
    sidecar = await Sidecar.open({ dataDir: join(tmp(), 'sidecar'), privateKey: parsePrivateKey(generateKeyPair().privateKeyPem, 'sidecar'), store: { kind: 'local', put: () => Promise.reject(new Error('unused')), list: () => Promise.resolve([]) }, tlog: { embedded: log }, logger: quiet });
    desk = new ApprovalDesk({ dataDir: join(tmp(), 'sidecar'), tlog: { embedded: log }, logger: quiet });
    server = await serveSidecar(sidecar, '127.0.0.1', 0, { token: TOKEN, approvals: desk });
  });
  after(async () => {
    await server.close();
    await sidecar.close();
    await log.close();
  });

  function policy(extra = ''): string {
    const lines = ['version: 1', 'reviewers:', '  people:'];
    for (const [p, groups, role] of [[people.alice, '', 'human'], [people.sec, 'security', 'human'], [people.bot, '', 'agent'], [people.author, '', 'human']] as const) {
      // alice's forge account, spelled as she types it: GitHub logins compare case-insensitively
      const accounts = p === people.alice ? ['      accounts: ["github:Alice"]'] : [];
      lines.push(`    - id: ${p.id}`, `      groups: [${groups}]`, `      role: ${role}`, ...accounts, '      public-key: |', ...publicKeyPem(p.key).trim().split('\n').map((l) => `        ${l}`));
    }
    return lines.join('\n') + '\n' + extra;
  }

  const baseLock = JSON.stringify(lockfile({ name: 'shop', version: '1.0.0', dependencies: { lodash: '^4.17.21' } }, [{ name: 'lodash', version: '4.17.21', license: 'MIT' }]), null, 2);

  /** A repository whose base has the policy and a small project, and a head with `files` changed. */
  function change(files: Record<string, string>, basePolicy = policy()): { repo: string; base: string; head: string } {
    const repo = initRepo(join(tmp(), `repo-${String(++n)}`));
    const base = commit(repo, { '.vouch/policy.yaml': basePolicy, 'README.md': '# shop\n', 'src/cart.ts': 'export const cart = 1;\n', 'package.json': '{"name":"shop","dependencies":{"lodash":"^4.17.21"}}\n', 'package-lock.json': baseLock }, 'base');
    const head = commit(repo, files, 'the change');
    return { repo, base, head };
  }

  async function classify(c: { repo: string; base: string; head: string }, extra: string[] = []): Promise<{ code: number; stderr: string; tier: string; reasons: string[]; required: { count: number; groups: Record<string, number> }; digest: string; assessment: string }> {
    const out = join(c.repo, '.vouch-results');
    const r = await runTaskInProcess('classify', ['--source', c.repo, '--base-revision', c.base, '--head-revision', c.head, '--repository', REPO_URL, '--pull-request', '7', ...extra, ...['RISK_TIER', 'RISK_REASONS', 'REQUIRED_APPROVALS', 'RISK_EVIDENCE'].flatMap((k) => ['--result', `${k}=${out}-${k}`])]);
    if (r.code !== 0) return { code: r.code, stderr: r.stderr, tier: '', reasons: [], required: { count: 0, groups: {} }, digest: '', assessment: '' };
    const evidence = JSON.parse(readFileSync(`${out}-RISK_EVIDENCE`, 'utf8')) as { predicateType: string; uri: string; digest: string };
    expect(evidence.predicateType).to.equal('https://vouch.dev/attestation/risk-assessment/v0.1');
    const assessment = readFileSync(new URL(evidence.uri), 'utf8');
    expect(`sha256:${sha256Hex(assessment)}`).to.equal(evidence.digest);
    return {
      code: r.code,
      stderr: r.stderr,
      tier: readFileSync(`${out}-RISK_TIER`, 'utf8'),
      reasons: JSON.parse(readFileSync(`${out}-RISK_REASONS`, 'utf8')) as string[],
      required: JSON.parse(readFileSync(`${out}-REQUIRED_APPROVALS`, 'utf8')) as { count: number; groups: Record<string, number> },
      digest: evidence.digest,
      assessment,
    };
  }

  async function gate(c: { repo: string; base: string; head: string }, run: string, cl: { tier: string; digest: string }, extra: string[] = []): Promise<{ code: number; stderr: string; state: string; approvedBy: string[]; report: Record<string, unknown> }> {
    const out = join(c.repo, '.vouch-gate');
    const r = await runTaskInProcess('gate', ['--source', c.repo, '--base-revision', c.base, '--head-revision', c.head, '--pipeline-run', run, '--risk-tier', cl.tier, '--risk-digest', cl.digest, '--timeout-seconds', '0', '--poll-seconds', '0.05', ...extra, '--result', `APPROVAL_STATE=${out}-state`, '--result', `APPROVED_BY=${out}-by`]);
    const reportFile = join(c.repo, '.vouch/reports/gate/report.json');
    if (!existsSync(`${out}-state`) || r.code > 1) return { code: r.code, stderr: r.stderr, state: '', approvedBy: [], report: {} };
    return { code: r.code, stderr: r.stderr, state: readFileSync(`${out}-state`, 'utf8'), approvedBy: JSON.parse(readFileSync(`${out}-by`, 'utf8')) as string[], report: JSON.parse(readFileSync(reportFile, 'utf8')) as Record<string, unknown> };
  }

  /** Signs an approval for the assessment text as `who` would (what `vouch approve` does) and POSTs it. */
  async function submit(who: Person, run: string, assessment: string, decision: 'approve' | 'reject' = 'approve', o: { signWith?: KeyObject; token?: string | null } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const a = JSON.parse(assessment) as { repository: string; pullRequest: string; headRevision: string; tier: 'low' | 'medium' | 'high' };
    const predicate: ApprovalPredicate = { decision, reviewer: { id: who.id }, repository: a.repository, pullRequest: a.pullRequest, headCommit: a.headRevision, pipelineRun: run, riskAssessment: { digest: { sha256: sha256Hex(assessment) }, tier: a.tier }, timestamp: '2026-11-24T16:00:00Z' };
    const { envelope } = signApproval(predicate, o.signWith ?? who.key);
    const token = o.token === undefined ? TOKEN : o.token;
    const res = await fetch(`${server.url}/approvals`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify({ envelope, publicKey: publicKeyPem(who.key) }) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  const approvalsUrl = (): string[] => ['--approvals', server.url];
  const passedGates = ['--gate-results', ['lint={"result":"SUCCESS"}', 'test={"result":"SUCCESS"}', 'sca={"result":"WARNING"}'].join('\n')];

  it('docs only: low, auto-approved when every gate passed; a failed gate fails it', async () => {
    const c = change({ 'docs/guide.md': '# how to shop\n' });
    const cl = await classify(c);
    expect(cl.tier).to.equal('low');
    expect(cl.required).to.deep.equal({ count: 0, groups: {} });
    expect(cl.reasons).to.deep.equal(['low path/docs: documentation: docs/guide.md']);
    const g = await gate(c, 'ci/run-docs', cl, passedGates);
    expect(g.code, g.stderr).to.equal(0);
    expect(g.state).to.equal('auto-approved');
    const failed = await gate(c, 'ci/run-docs', cl, ['--gate-results', 'lint={"result":"SUCCESS"}\ntest={"result":"FAILURE"}']);
    expect(failed.code).to.equal(1);
    expect(failed.state).to.equal('gates-failed');
    const brief = readFileSync(join(c.repo, '.vouch/reports/classify/brief.md'), 'utf8');
    expect(brief).to.include('# Review brief: LOW risk').and.include('### docs (1)');
  });

  it('a new dependency: medium, waits, passes after one valid approval (vouch approve), logged and verifiable', async () => {
    const lock = lockfile({ name: 'shop', version: '1.0.0', dependencies: { lodash: '^4.17.21', 'left-pad': '1.3.0' } }, [{ name: 'lodash', version: '4.17.21', license: 'MIT' }, { name: 'left-pad', version: '1.3.0', license: 'WTFPL' }]);
    const c = change({ 'package.json': '{"name":"shop","dependencies":{"lodash":"^4.17.21","left-pad":"1.3.0"}}\n', 'package-lock.json': JSON.stringify(lock, null, 2) });
    const cl = await classify(c);
    expect(cl.tier).to.equal('medium');
    expect(cl.reasons).to.include('medium deps/new: new dependencies: left-pad@1.3.0');
    expect(cl.required).to.deep.equal({ count: 1, groups: {} });

    const waiting = await gate(c, 'ci/run-dep', cl, [...approvalsUrl(), ...passedGates]);
    expect(waiting.code).to.equal(1);
    expect(waiting.state).to.equal('timed-out');

    const r = await runVouch(['approve', '--run', 'ci/run-dep', '--key', people.alice.keyFile, '--reviewer', people.alice.id, '--source', c.repo, '--sidecar', server.url, '--comment', 'left-pad is fine'], { env: { VOUCH_SINK_TOKEN: TOKEN } });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/approved https:\/\/git\.example\/acme\/shop\.git@[0-9a-f]{40} \(medium risk\) for ci\/run-dep as alice@example\.com; logged at index \d+/);

    const ok = await gate(c, 'ci/run-dep', cl, [...approvalsUrl(), ...passedGates, '--tlog-trusted-root', trustedRootFile]);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.state).to.equal('approved');
    expect(ok.approvedBy).to.deep.equal(['alice@example.com']);
    // the counted approval is in the gate's report: a Sigstore bundle signed by alice, logged, bound to the head commit
    const bundle = JSON.parse(readFileSync(join(c.repo, '.vouch/reports/gate/approvals/0.sigstore.json'), 'utf8')) as unknown;
    const v = verifyBundle({ bundle, artifact: { gitCommit: c.head }, policy: { publicKey: publicKeyOf(people.alice.key) }, trustedRoot: trustedRootFor(log) });
    expect(v.statement?.predicateType).to.equal('https://vouch.dev/attestation/approval/v0.1');
    expect(v.statement?.predicate).to.include({ decision: 'approve', headCommit: c.head, pipelineRun: 'ci/run-dep', comment: 'left-pad is fine' });
    expect(v.tlogEntries).to.have.length(1);
    expect(() => verifyBundle({ bundle, artifact: { gitCommit: c.base }, policy: { publicKey: publicKeyOf(people.alice.key) }, trustedRoot: trustedRootFor(log) })).to.throw(/no subject/);
    // the same decision read from the sidecar's approvals directory (what a sandboxed step without network sees)
    const fromDir = await gate(c, 'ci/run-dep', cl, ['--approvals', join(tmp(), 'sidecar', 'approvals'), ...passedGates]);
    expect(fromDir.state).to.equal('approved');
    expect(readFileSync(join(c.repo, '.vouch/reports/gate/brief.md'), 'utf8')).to.include('- Approvals: approved; approved by alice@example.com');
  });

  it('an auth path: high; one approval is not enough, two with one from security pass', async () => {
    const c = change({ 'src/auth/session.ts': 'export const ttl = 60;\n' });
    const cl = await classify(c);
    expect(cl.tier).to.equal('high');
    expect(cl.required).to.deep.equal({ count: 2, groups: { security: 1 } });
    expect((await submit(people.alice, 'ci/run-auth', cl.assessment)).status).to.equal(201);
    const one = await gate(c, 'ci/run-auth', cl, approvalsUrl());
    expect(one.state).to.equal('timed-out');
    expect(JSON.stringify(one.report['reasons'])).to.include('1 more approval(s) from group security');
    expect((await submit(people.sec, 'ci/run-auth', cl.assessment)).status).to.equal(201);
    const two = await gate(c, 'ci/run-auth', cl, approvalsUrl());
    expect(two.code, two.stderr).to.equal(0);
    expect(two.approvedBy).to.deep.equal(['alice@example.com', 'sec@example.com']);
  });

  it('a policy edit inside the PR is high and is judged by the base policy, not its own', async () => {
    const loosened = 'version: 1\nrisk:\n  default-tier: low\n  low-paths: ["**"]\napprovals:\n  high: 0\n  high-groups: []\n';
    const c = change({ '.vouch/policy.yaml': loosened, 'src/auth/session.ts': 'export const ttl = 1e9;\n' });
    const cl = await classify(c);
    expect(cl.tier).to.equal('high');
    expect(cl.reasons[0]).to.match(/^high path\/auth/);
    expect(cl.reasons.some((r) => r.startsWith('high path/pipeline: changes the pipeline, tasks, policy or CI that judge it: .vouch/policy.yaml'))).to.equal(true);
    expect(cl.required).to.deep.equal({ count: 2, groups: { security: 1 } });
    expect((JSON.parse(cl.assessment) as { policy: { revision: string } }).policy.revision).to.equal(c.base);
  });

  it('the base policy cannot be swapped in the workspace after classify: git replace is ignored, a rewritten object is refused', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 5;\n' });
    const cl = await classify(c);
    expect(cl.tier).to.equal('medium');
    // what the change's code could do in the workspace once classify ran: a policy that needs no approval
    const loosened = policy('approvals:\n  medium: 0\n');
    writeFileSync(join(c.repo, 'loose.yaml'), loosened);
    const loose = git(c.repo, ['hash-object', '-w', 'loose.yaml']).trim();
    const blob = git(c.repo, ['rev-parse', `${c.base}:.vouch/policy.yaml`]).trim();
    git(c.repo, ['replace', blob, loose]);
    const replaced = await gate(c, 'ci/run-replace', cl, [...passedGates, ...approvalsUrl()]);
    expect(replaced.code, replaced.stderr).to.equal(1);
    expect(replaced.state).to.equal('timed-out');
    expect(replaced.report['requirement']).to.deep.equal({ count: 1, groups: {} });
    git(c.repo, ['replace', '-d', blob]);

    // git does not check an object's hash when it reads it: overwrite the base policy's loose object in place
    const file = join(c.repo, '.git/objects', blob.slice(0, 2), blob.slice(2));
    chmodSync(file, 0o644);
    writeFileSync(file, deflateSync(Buffer.concat([Buffer.from(`blob ${String(Buffer.byteLength(loosened))}\0`), Buffer.from(loosened)])));
    expect(git(c.repo, ['show', `${c.base}:.vouch/policy.yaml`])).to.equal(loosened);
    const rewritten = await gate(c, 'ci/run-rewrite', cl, passedGates);
    expect(rewritten.code).to.equal(2);
    expect(rewritten.stderr).to.match(/is not the one classify judged the change by .*\[STAGE_INPUT_INVALID\]/);
  });

  it('self-approval by the agent or the author is refused; a rejection ends the wait', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 2;\n' });
    const cl = await classify(c);
    expect(cl.tier).to.equal('medium');
    expect((await submit(people.bot, 'ci/run-self', cl.assessment)).status).to.equal(201);
    expect((await submit(people.author, 'ci/run-self', cl.assessment)).status).to.equal(201);
    const g = await gate(c, 'ci/run-self', cl, approvalsUrl());
    expect(g.state).to.equal('timed-out');
    expect(JSON.stringify(g.report['reasons'])).to.include('who requested the change is not known (classify got no requested-by)');
    const refused = g.report['refused'] as { reviewer: string; reason: string }[];
    expect(refused.map((r) => r.reviewer).sort()).to.deep.equal(['author@example.com', 'bot@agents.example']);
    expect(refused.find((r) => r.reviewer === 'bot@agents.example')!.reason).to.match(/agent never approves/);
    expect(refused.find((r) => r.reviewer === 'author@example.com')!.reason).to.match(/no self-approval/);

    expect((await submit(people.sec, 'ci/run-self', cl.assessment, 'reject')).status).to.equal(201);
    // a long timeout: the rejection answers at once
    const rejected = await gate(c, 'ci/run-self', cl, [...approvalsUrl(), '--timeout-seconds', '3600']);
    expect(rejected.code).to.equal(1);
    expect(rejected.state).to.equal('rejected');
  });

  it('who requested the change (the PR author, by forge account) cannot approve it; another reviewer can; the requester may reject', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 7;\n' });
    const cl = await classify(c, ['--requested-by', 'github:ALICE']);
    expect(cl.code, cl.stderr).to.equal(0);
    expect((JSON.parse(cl.assessment) as { requestedBy: string[] }).requestedBy).to.deep.equal(['github:alice']);
    // alice's commits are not in the change (the agent wrote them): only her account ties her to it
    expect((JSON.parse(cl.assessment) as { authors: string[] }).authors).to.not.include('alice@example.com');
    expect((await submit(people.alice, 'ci/run-requester', cl.assessment)).status).to.equal(201);
    const g = await gate(c, 'ci/run-requester', cl, approvalsUrl());
    expect(g.state).to.equal('timed-out');
    expect((g.report['refused'] as { reviewer: string; reason: string }[]).map((r) => [r.reviewer, r.reason])).to.deep.equal([['alice@example.com', 'alice@example.com (github:Alice) requested the change: no self-approval']]);

    expect((await submit(people.sec, 'ci/run-requester', cl.assessment)).status).to.equal(201);
    const approved = await gate(c, 'ci/run-requester', cl, approvalsUrl());
    expect(approved.code, approved.stderr).to.equal(0);
    expect(approved.approvedBy).to.deep.equal(['sec@example.com']);
    expect(JSON.stringify(approved.report['reasons'])).to.not.include('who requested the change is not known');

    // withdrawing can only stop a change: the requester's rejection counts
    expect((await submit(people.alice, 'ci/run-requester', cl.assessment, 'reject')).status).to.equal(201);
    const withdrawn = await gate(c, 'ci/run-requester', cl, approvalsUrl());
    expect(withdrawn.state).to.equal('rejected');
    expect(withdrawn.report['rejectedBy']).to.deep.equal(['alice@example.com']);

    // without the requester the same approval counts: the rule is the account, not alice
    const other = await classify(c, ['--requested-by', 'github:someone-else']);
    expect((await submit(people.alice, 'ci/run-requester-2', other.assessment)).status).to.equal(201);
    expect((await gate(c, 'ci/run-requester-2', other, approvalsUrl())).approvedBy).to.deep.equal(['alice@example.com']);
  });

  it('a requester that is not a forge account is a usage error, and nothing is classified', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 8;\n' });
    const bad = await classify(c, ['--requested-by', 'alice@example.com']);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/--requested-by "alice@example\.com": must be a forge account "<forge>:<login>"/);
    expect(existsSync(join(c.repo, '.vouch/reports/classify/risk-assessment.json'))).to.equal(false);
  });

  it('a flood of approvals no policy reviewer signed cannot hide a rejection; over the caps the gate fails closed', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 6;\n' });
    const cl = await classify(c);
    const run = 'ci/run-flood';
    const dir = join(tmp(), 'flood-approvals');
    const runDir = join(dir, 'ci', 'run-flood');
    mkdirSync(runDir, { recursive: true });
    const a = JSON.parse(cl.assessment) as { repository: string; pullRequest: string; headRevision: string; tier: 'medium' };
    const stmt = (who: string, decision: 'approve' | 'reject', i: number): ApprovalPredicate => ({ decision, reviewer: { id: who }, repository: a.repository, pullRequest: a.pullRequest, headCommit: a.headRevision, pipelineRun: run, riskAssessment: { digest: { sha256: sha256Hex(cl.assessment) }, tier: a.tier }, timestamp: `2026-11-24T16:00:${String(i % 60).padStart(2, '0')}Z`, comment: String(i) });
    const store = (file: string, p: ApprovalPredicate, key: KeyObject): void => {
      writeFileSync(join(runDir, file), JSON.stringify({ bundle: { dsseEnvelope: signApproval(p, key).envelope } }));
    };
    // 300 self-signed statements that sort before the genuine rejection: mallory's own, and alice's id under mallory's key
    for (let i = 0; i < 300; i++) store(`0-${String(i).padStart(4, '0')}.json`, stmt(i % 2 ? people.mallory.id : people.alice.id, 'approve', i), people.mallory.key);
    store('z-reject.json', stmt(people.sec.id, 'reject', 0), people.sec.key);
    const g = await gate(c, run, cl, ['--approvals', dir]);
    expect(g.code, g.stderr).to.equal(1);
    expect(g.state).to.equal('rejected');
    expect(g.report['rejectedBy']).to.deep.equal([people.sec.id]);
    expect((g.report['notSigned'] as { count: number }).count).to.equal(300);

    // more approvals signed by policy reviewers than the gate judges: it fails closed instead of judging a part
    rmSync(join(runDir, 'z-reject.json'));
    for (let i = 0; i <= MAX_APPROVALS; i++) store(`1-${String(i).padStart(4, '0')}.json`, stmt(people.alice.id, 'approve', i), people.alice.key);
    const over = await gate(c, run, cl, ['--approvals', dir]);
    expect(over.code).to.equal(1);
    expect(over.state).to.equal('rejected');
    expect(over.report['approvedBy']).to.deep.equal([]);
    expect(readFileSync(join(c.repo, '.vouch/reports/gate/report.json'), 'utf8')).to.match(/201 approvals signed by policy reviewers, more than the 200 the gate judges: failing closed/);
    // and more stored approvals than it reads at all: not even a prefix is judged
    expect(await fetchApprovals(dir, run, 500)).to.deep.equal({ tooMany: 501 });
  });

  it('with the log\'s trusted root (a file or inline JSON) only approvals provably in that log count; without, the report says so', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 7;\n' });
    const cl = await classify(c);
    expect((await submit(people.alice, 'ci/run-logged', cl.assessment)).status).to.equal(201);
    const other = await EmbeddedLog.open(join(tmp(), 'other-tlog'), { logger: quiet });
    const otherRoot = JSON.stringify(trustedRootFor(other));
    await other.close();
    const elsewhere = await gate(c, 'ci/run-logged', cl, [...approvalsUrl(), '--tlog-trusted-root', otherRoot]);
    expect(elsewhere.code).to.equal(1);
    expect(elsewhere.state).to.equal('timed-out');
    expect((elsewhere.report['unreadable'] as string[]).join('\n')).to.match(/^log index \d+: /);
    expect(elsewhere.report['approvalsLogVerified']).to.equal(true);
    const inline = await gate(c, 'ci/run-logged', cl, [...approvalsUrl(), '--tlog-trusted-root', readFileSync(trustedRootFile, 'utf8')]);
    expect(inline.code, inline.stderr).to.equal(0);
    expect(inline.approvedBy).to.deep.equal([people.alice.id]);
    const unchecked = await gate(c, 'ci/run-logged', cl, approvalsUrl());
    expect(unchecked.state).to.equal('approved');
    expect(unchecked.report['approvalsLogVerified']).to.equal(false);
    expect(readFileSync(join(c.repo, '.vouch/reports/gate/report.json'), 'utf8')).to.include('approvals were not checked against the transparency log (no tlog-trusted-root given)');
    const bad = await gate(c, 'ci/run-logged', cl, [...approvalsUrl(), '--tlog-trusted-root', '{"not": "a root"']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--tlog-trusted-root: .*\[STAGE_INPUT_INVALID\]/);
  });

  it('an approval replayed onto a new push (new head, new assessment) does not count', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 3;\n' });
    const first = await classify(c);
    expect((await submit(people.alice, 'ci/run-push', first.assessment)).status).to.equal(201);
    const pushed = { ...c, head: commit(c.repo, { 'src/cart.ts': 'export const cart = 4;\n' }, 'a new push') };
    const second = await classify(pushed);
    expect(second.digest).not.to.equal(first.digest);
    const g = await gate(pushed, 'ci/run-push', second, approvalsUrl());
    expect(g.state).to.equal('timed-out');
    expect((g.report['refused'] as { reason: string }[])[0]!.reason).to.match(/not the head .* \(a new push voids approvals\)/);
  });

  it('vouch brief prints the brief with the agent\'s words; vouch reject ends the wait; a wrong token is refused', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 6;\n' });
    mkdirSync(join(c.repo, '.vouch/reports/agent-run'), { recursive: true });
    writeFileSync(join(c.repo, '.vouch/reports/agent-run/transcript.jsonl'), [JSON.stringify({ type: 'assistant', message: { content: [{ type: 'text', text: 'Bumped the cart to 6 because the spec says so.' }] } }), JSON.stringify({ type: 'result', result: 'Cart is now 6: the spec asked for it.' })].join('\n'));
    const cl = await classify(c);
    const brief = await runVouch(['brief', '--source', c.repo]);
    expect(brief.code, brief.stderr).to.equal(0);
    expect(brief.stdout).to.include('# Review brief: MEDIUM risk');
    expect(brief.stdout).to.include("## The agent's stated rationale (the agent's own words, not verified)");
    expect(brief.stdout).to.include('> Cart is now 6: the spec asked for it.');
    expect(brief.stdout).to.equal(readFileSync(join(c.repo, '.vouch/reports/classify/brief.md'), 'utf8'));
    // made afresh from git, the brief is byte for byte the same (deterministic)
    const fresh = await runVouch(['brief', '--source', c.repo, '--base', c.base, '--head', c.head, '--repository', REPO_URL, '--pull-request', '7']);
    expect(fresh.code, fresh.stderr).to.equal(0);
    expect(fresh.stdout).to.equal(brief.stdout);

    const denied = await runVouch(['reject', '--run', 'ci/run-cli', '--key', people.sec.keyFile, '--reviewer', people.sec.id, '--source', c.repo, '--sidecar', server.url], { env: { VOUCH_SINK_TOKEN: 'wrong' } });
    expect(denied.code).to.equal(2);
    expect(denied.stderr).to.include('[SIDECAR_UNAUTHORIZED]');
    const rejected = await runVouch(['reject', '--run', 'ci/run-cli', '--key', people.sec.keyFile, '--reviewer', people.sec.id, '--source', c.repo, '--sidecar', server.url, '--comment', 'no'], { env: { VOUCH_SINK_TOKEN: TOKEN } });
    expect(rejected.code, rejected.stderr).to.equal(0);
    const g = await gate(c, 'ci/run-cli', cl, [...approvalsUrl(), '--timeout-seconds', '3600']);
    expect(g.state).to.equal('rejected');
    expect(g.report['rejectedBy']).to.deep.equal(['sec@example.com']);
    const bad = await gate(c, 'ci/run-cli', cl, [...approvalsUrl(), '--gate-results', 'lint: passed']);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.include('[STAGE_USAGE]');
  });

  it('the sidecar refuses what is not a signed approval: no token, a key that did not sign, malformed, an unlisted key', async () => {
    const c = change({ 'src/cart.ts': 'export const cart = 5;\n' });
    const cl = await classify(c);
    expect((await submit(people.alice, 'ci/run-x', cl.assessment, 'approve', { token: null })).status).to.equal(401);
    const forged = await submit(people.alice, 'ci/run-x', cl.assessment, 'approve', { signWith: people.mallory.key });
    expect(forged.status).to.equal(403);
    expect(forged.body['code']).to.equal('APPROVAL_REFUSED');
    const bad = await fetch(`${server.url}/approvals`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ envelope: { payloadType: 'x', payload: 'AA==', signatures: [{ sig: 'AA==' }] }, publicKey: publicKeyPem(people.alice.key) }) });
    expect(bad.status).to.equal(400);
    expect(await desk.list('ci', 'run-x')).to.deep.equal([]);
    expect((await fetch(`${server.url}/approvals/ci/run-x`)).status).to.equal(200);
    expect((await fetch(`${server.url}/approvals/..%2F..%2Fetc/x`)).status, 'names are Kubernetes names, never paths').to.equal(400);
    const strict = new ApprovalDesk({ dataDir: join(tmp(), 'strict'), tlog: { embedded: log }, reviewerKeys: [publicKeyOf(people.sec.key)], logger: quiet });
    const { envelope } = signApproval({ decision: 'approve', reviewer: { id: people.alice.id }, repository: REPO_URL, pullRequest: '7', headCommit: c.head, pipelineRun: 'ci/run-x', riskAssessment: { digest: { sha256: sha256Hex(cl.assessment) }, tier: 'medium' }, timestamp: '2026-11-24T16:00:00Z' }, people.alice.key);
    await rejectsWith(strict.submit({ envelope, publicKey: publicKeyPem(people.alice.key) }), 'APPROVAL_REFUSED', /not a configured reviewer key/);
    // the same envelope twice: one log entry, one stored approval
    const once = await desk.submit({ envelope, publicKey: publicKeyPem(people.alice.key) });
    const twice = await desk.submit({ envelope, publicKey: publicKeyPem(people.alice.key) });
    expect([once.created, twice.created]).to.deep.equal([true, false]);
    expect(twice.record.logEntry.logIndex).to.equal(once.record.logEntry.logIndex);
    expect(await desk.list('ci', 'run-x')).to.have.length(1);
  });

  it('a malformed base policy fails closed with file:line, writing nothing; a rewritten assessment is refused by the gate', async () => {
    const c = change({ 'docs/a.md': 'x\n' }, policy('risk:\n  default-tier: severe\n'));
    const r = await classify(c);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('[POLICY_INVALID]');
    expect(r.stderr).to.include(`${c.base}:.vouch/policy.yaml:`);
    expect(r.stderr).to.match(/\.vouch\/policy\.yaml:\d+:17: risk\.default-tier: must be one of low, medium, high/);
    expect(filesUnder(join(c.repo, '.vouch/reports'))).to.deep.equal([]);

    const ok = change({ 'src/auth/x.ts': 'x\n' });
    const cl = await classify(ok);
    const file = join(ok.repo, '.vouch/reports/classify/risk-assessment.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"tier": "high"', '"tier": "low"'));
    const g = await gate(ok, 'ci/run-tamper', { tier: 'low', digest: cl.digest }, passedGates);
    expect(g.code).to.equal(2);
    expect(g.stderr).to.match(/changed after classification \[STAGE_INPUT_INVALID\]/);
    expect(existsSync(join(ok.repo, '.vouch/reports/gate')), 'nothing written').to.equal(false);
  });
});
