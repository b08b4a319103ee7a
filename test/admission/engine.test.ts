import { expect } from 'chai';
import { copyFileSync, mkdirSync, readdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { AdmissionEngine, type EngineOptions } from '../../src/admission/engine.ts';
import { VouchError } from '../../src/common/errors.ts';
import { parseAdmissionPolicies, PREDICATES } from '../../src/policy/admission.ts';
import { tempDir } from '../helpers/tmp.ts';
import { digestOf, headOf, makeWorld, policyYaml, putApproval, putEvidence, REPO, RISK_FILE, type World } from './helpers.ts';
import { sha256Hex } from '../../src/common/digest.ts';
import { RekorClient } from '../../src/tlog/client.ts';
import { serve } from '../../src/tlog/server.ts';

describe('admission: engine (signed evidence in a local store, the embedded log)', function () {
  this.timeout(20_000);
  let w: World;
  let dir: string;
  before(async () => {
    dir = tempDir('vouch-admission-');
    w = await makeWorld(dir);
  });
  after(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const engine = (extra = '', opts: Partial<EngineOptions> = {}): AdmissionEngine =>
    new AdmissionEngine({ policies: parseAdmissionPolicies(policyYaml(w, extra), 'policy.yaml'), stores: [w.store], approvalDirs: [w.approvalsDir], trustedRoot: w.trustedRoot, ...opts });
  const judged = async (label: string, extra = '', opts: Partial<EngineOptions> = {}) => engine(extra, opts).judgeImage(`${REPO}@sha256:${digestOf(label)}`, { namespace: 'prod' });
  const failing = (v: { policies: { rules: { code: string; outcome: string }[] }[] }): string[] => v.policies.flatMap((p) => p.rules.filter((r) => r.outcome === 'fail').map((r) => r.code));

  before(async () => {
    await putEvidence(w, { digest: digestOf('good') });
    await putEvidence(w, { digest: digestOf('no-provenance'), omit: [PREDICATES.provenance] });
    await putEvidence(w, { digest: digestOf('wrong-signer'), signWith: { [PREDICATES.provenance]: w.strangerKey } });
    await putEvidence(w, { digest: digestOf('tampered'), tamper: [PREDICATES.provenance] });
    await putEvidence(w, { digest: digestOf('other-log'), otherLog: [PREDICATES.provenance] });
    await putEvidence(w, { digest: digestOf('failed-tests'), testResult: 'FAILED' });
    await putEvidence(w, { digest: digestOf('critical'), criticalVuln: true });
    await putEvidence(w, { digest: digestOf('task-failed'), taskFailed: true });
  });

  it('admits an image with full evidence, every rule passing, and names what it looked at', async () => {
    const v = await judged('good');
    expect(v.reasons, v.reasons.join('\n')).to.deep.equal([]);
    expect(v.allowed).to.equal(true);
    expect(v.via).to.equal('evaluated');
    const codes = v.policies[0]!.rules.map((r) => `${r.code}:${r.outcome}`);
    expect(codes).to.include.members(['signature.verified:pass', 'provenance.present:pass', 'provenance.builder:pass', 'gates.passed:pass', 'tests.passed:pass', 'sbom.present:pass', 'vulns.none-blocking:pass', 'risk.present:pass', 'approvals.satisfied:pass']);
    const sig = v.policies[0]!.rules.find((r) => r.code === 'signature.verified')!;
    expect(sig.evidence.join('\n')).to.match(/https:\/\/slsa\.dev\/provenance\/v1 signed by key [0-9a-f]{12}, log http:\/\/localhost #\d+/);
    expect(v.inputs).to.have.length(5);
  });

  it('caches admissions by digest (the second judgement is a cache hit), never denials; the cache is bounded', async () => {
    await putEvidence(w, { digest: digestOf('good-2') });
    await putEvidence(w, { digest: digestOf('good-3') });
    const e = engine('', { cache: { ttlMs: 60_000, maxEntries: 2 } });
    const ref = `${REPO}@sha256:${digestOf('good')}`;
    expect((await e.judgeImage(ref, { namespace: 'prod' })).via).to.equal('evaluated');
    expect((await e.judgeImage(ref, { namespace: 'prod' })).via).to.equal('cache');
    // a denial is judged afresh every time: evidence or approvals may have landed since
    const crit = `${REPO}@sha256:${digestOf('critical')}`;
    expect((await e.judgeImage(crit, { namespace: 'prod' })).via).to.equal('evaluated');
    expect((await e.judgeImage(crit, { namespace: 'prod' })).via).to.equal('evaluated');
    expect(e.cache.size).to.equal(1);
    for (const l of ['good-2', 'good-3']) expect((await e.judgeImage(`${REPO}@sha256:${digestOf(l)}`, { namespace: 'prod' })).allowed).to.equal(true);
    expect(e.cache.size).to.equal(2);
    expect((await e.judgeImage(ref, { namespace: 'prod' })).via).to.equal('evaluated');
  });

  it('denies without provenance', async () => {
    const v = await judged('no-provenance');
    expect(v.allowed).to.equal(false);
    expect(failing(v)).to.include('provenance.present');
    expect(v.reasons.join('\n')).to.match(/provenance\.present: no verified SLSA provenance.*fix: /);
  });

  it('denies provenance signed by a key the policy does not trust, saying so', async () => {
    const v = await judged('wrong-signer');
    expect(failing(v)).to.include('provenance.present');
    const sig = v.policies[0]!.rules.find((r) => r.code === 'signature.verified')!;
    expect(sig.evidence.join('\n')).to.match(/rejected https:\/\/slsa\.dev\/provenance\/v1 .*which no policy trusts/);
  });

  it('denies a tampered statement (the signature no longer verifies)', async () => {
    const v = await judged('tampered');
    expect(failing(v)).to.include('provenance.present');
    expect(v.policies[0]!.rules.find((r) => r.code === 'signature.verified')!.evidence.join('\n')).to.match(/rejected https:\/\/slsa\.dev\/provenance\/v1.*(signature|does not verify)/);
  });

  it('denies an attestation whose entry is not in the trusted log', async () => {
    const v = await judged('other-log');
    expect(failing(v)).to.include('provenance.present');
    const lines = v.policies[0]!.rules.find((r) => r.code === 'signature.verified')!.evidence.join('\n');
    expect(lines, lines).to.match(/rejected https:\/\/slsa\.dev\/provenance\/v1 .*transparency log/);
  });

  it('denies failed tests, a critical vulnerability and a failed gate task, each with its rule', async () => {
    expect(failing(await judged('failed-tests'))).to.deep.equal(['tests.passed']);
    const crit = await judged('critical');
    expect(failing(crit)).to.deep.equal(['vulns.none-blocking']);
    expect(crit.reasons[0]).to.match(/GHSA-xxxx-yyyy-zzzz \(critical\)/);
    expect(failing(await judged('task-failed'))).to.deep.equal(['gates.passed']);
  });

  it('a high tier without a security approval is denied, naming the missing group', async () => {
    const d = digestOf('no-security');
    await putEvidence(w, { digest: d, approvers: ['bob', 'carol'] });
    const v = await judged('no-security');
    expect(failing(v)).to.deep.equal(['approvals.satisfied']);
    expect(v.reasons[0]).to.match(/1 from group security needed, 0 valid/);
  });

  it("approvals kept by the sidecar's approvals API (<namespace>/<run>/, {bundle, logEntry}) count like bare bundles", async () => {
    const d = digestOf('sidecar-approvals');
    await putEvidence(w, { digest: d, approvers: [] });
    expect(failing(await judged('sidecar-approvals'))).to.deep.equal(['approvals.satisfied']);
    const risk = sha256Hex(RISK_FILE('high', headOf(d)));
    for (const who of ['alice', 'bob'] as const) await putApproval(w, who, { tier: 'high', riskSha256: risk, commit: headOf(d), sidecarLayout: true });
    const v = await judged('sidecar-approvals');
    expect(failing(v)).to.deep.equal([]);
    expect(v.allowed).to.equal(true);
  });

  it('an approval signed by the wrong key, or for another commit, does not count', async () => {
    const d = digestOf('forged-approval');
    await putEvidence(w, { digest: d, approvers: ['bob'] });
    const risk = sha256Hex(RISK_FILE('high', headOf(d)));
    await putApproval(w, 'alice', { tier: 'high', riskSha256: risk, commit: headOf(d), key: w.strangerKey });
    await putApproval(w, 'carol', { tier: 'high', riskSha256: risk, commit: 'f'.repeat(40) });
    const v = await judged('forged-approval');
    expect(failing(v)).to.deep.equal(['approvals.satisfied']);
    const r = v.policies[0]!.rules.find((x) => x.code === 'approvals.satisfied')!;
    expect(v.policies[0]!.rules.find((x) => x.code === 'signature.verified')!.evidence.join('\n')).to.match(/rejected https:\/\/vouch\.dev\/attestation\/approval\/v0\.1 .*alice.*no policy trusts/);
    expect(r.message).to.match(/2 approval\(s\) needed, 1 valid/);
  });

  it('a flood of approval files no approver signed cannot hide a rejection; over the file cap admission fails closed', async () => {
    const d = digestOf('flood');
    await putEvidence(w, { digest: d });
    const flood = join(dir, 'flood-approvals');
    mkdirSync(flood);
    const dirs = { approvalDirs: [w.approvalsDir, flood] };
    expect((await judged('flood', '', dirs)).allowed).to.equal(true);
    const risk = sha256Hex(RISK_FILE('high', headOf(d)));
    // a stranger's statements for this commit, named to sort before carol's genuine rejection in the same directory
    const fileOf = async (o: Parameters<typeof putApproval>[2], who: 'bob' | 'carol'): Promise<string> => {
      const before = new Set(readdirSync(w.approvalsDir));
      await putApproval(w, who, o);
      const name = readdirSync(w.approvalsDir).find((n) => !before.has(n))!;
      const moved = join(dir, `flood-${name}`);
      renameSync(join(w.approvalsDir, name), moved);
      return moved;
    };
    const forged = await fileOf({ tier: 'high', riskSha256: risk, commit: headOf(d), key: w.strangerKey }, 'bob');
    renameSync(await fileOf({ tier: 'high', riskSha256: risk, commit: headOf(d), decision: 'reject' }, 'carol'), join(flood, 'z-reject.json'));
    for (let i = 0; i < 30; i++) copyFileSync(forged, join(flood, `0-${String(i).padStart(5, '0')}.json`));
    const rejected = await judged('flood', '', dirs);
    expect(rejected.allowed).to.equal(false);
    expect(rejected.reasons.join('\n')).to.match(/rejected by carol@example\.com/);
    const evidence = rejected.policies[0]!.rules.find((x) => x.code === 'signature.verified')!.evidence.filter((e) => e.includes('flood-approvals/0-'));
    expect(evidence).to.have.length(20);
    expect(evidence[0]).to.match(/no policy trusts as an approver/);

    // more files than admission reads: it denies rather than judge a part (the part could leave the rejection out)
    for (let i = 30; i <= 10_000; i++) copyFileSync(forged, join(flood, `0-${String(i).padStart(5, '0')}.json`));
    const over = await judged('flood', '', dirs);
    expect(over.allowed).to.equal(false);
    expect(over.reasons[0]).to.match(/holds 10002 files, more than the 10000 admission reads: failing closed/);
    rmSync(flood, { recursive: true });
  });

  it('a rejection that lands in the same mtime tick as the cached approval index is not missed', async () => {
    const d = digestOf('same-tick');
    await putEvidence(w, { digest: d });
    const tick = join(dir, 'tick-approvals');
    mkdirSync(tick);
    // a directory mtime the index cannot tell from the next write's: what a write in the same tick leaves
    const pinned = new Date(Date.now() + 3_600_000);
    utimesSync(tick, pinned, pinned);
    const e = engine('', { approvalDirs: [w.approvalsDir, tick] });
    const image = `${REPO}@sha256:${d}`;
    expect((await e.judgeImage(image, { namespace: 'prod' })).allowed).to.equal(true);
    const before = new Set(readdirSync(w.approvalsDir));
    await putApproval(w, 'carol', { tier: 'high', riskSha256: sha256Hex(RISK_FILE('high', headOf(d))), commit: headOf(d), decision: 'reject' });
    const name = readdirSync(w.approvalsDir).find((n) => !before.has(n))!;
    renameSync(join(w.approvalsDir, name), join(tick, name));
    utimesSync(tick, pinned, pinned);
    e.cache.clear();
    const v = await e.judgeImage(image, { namespace: 'prod' });
    expect(v.allowed).to.equal(false);
    expect(v.reasons.join('\n')).to.match(/rejected by carol@example\.com/);
  });

  it('who requested the change (by account), an author or the agent cannot approve it; another approver can; the requester may reject', async () => {
    const reasons = (v: Awaited<ReturnType<typeof judged>>): string => v.policies[0]!.rules.find((x) => x.code === 'approvals.satisfied')!.evidence.join('\n');
    // the PR author's login as the forge reports it; the policy spells it github:Alice
    const requested = digestOf('requested-by-alice');
    const parties = { requestedBy: ['github:alice'] };
    await putEvidence(w, { digest: requested, tier: 'medium', approvers: ['alice'], parties });
    const v = await judged('requested-by-alice');
    expect(failing(v)).to.deep.equal(['approvals.satisfied']);
    expect(reasons(v)).to.match(/approval by alice@example\.com .*not counted: alice@example\.com \(github:Alice\) requested the change: no self-approval/);
    await putApproval(w, 'bob', { tier: 'medium', riskSha256: sha256Hex(RISK_FILE('medium', headOf(requested), parties)), commit: headOf(requested) });
    const other = await judged('requested-by-alice');
    expect(failing(other)).to.deep.equal([]);
    expect(other.allowed).to.equal(true);
    // withdrawing can only stop a change: the requester's rejection counts
    await putApproval(w, 'alice', { tier: 'medium', riskSha256: sha256Hex(RISK_FILE('medium', headOf(requested), parties)), commit: headOf(requested), decision: 'reject' });
    const withdrawn = await judged('requested-by-alice');
    expect(withdrawn.allowed).to.equal(false);
    expect(withdrawn.reasons[0]).to.match(/rejected by alice@example\.com/);

    // the gate's other rules hold at admission too: a commit author, an agent identity (from the verified assessment)
    await putEvidence(w, { digest: digestOf('authored-by-bob'), tier: 'medium', approvers: ['bob'], parties: { authors: ['Bob@Example.com'] } });
    expect(reasons(await judged('authored-by-bob'))).to.match(/bob@example\.com authored or committed the change: no self-approval/);
    await putEvidence(w, { digest: digestOf('agent-carol'), tier: 'medium', approvers: ['carol'], parties: { agentAuthors: ['carol@example.com'] } });
    expect(reasons(await judged('agent-carol'))).to.match(/carol@example\.com is an agent identity: an agent never approves/);
  });

  it('approvals do not count when the provenance lists no risk assessment evidence to bind them to', async () => {
    await putEvidence(w, { digest: digestOf('no-risk-evidence'), noRiskEvidence: true });
    const v = await judged('no-risk-evidence');
    expect(v.allowed).to.equal(false);
    expect(failing(v)).to.include('approvals.satisfied');
    const r = v.policies[0]!.rules.find((x) => x.code === 'approvals.satisfied')!;
    expect(r.evidence.join('\n')).to.match(/alice@example\.com .*not counted: the provenance lists no risk assessment evidence/);
    expect(r.message).to.match(/2 approval\(s\) needed, 0 valid/);
  });

  it('warn mode admits with warnings; effective_on in the future warns; an exception with a reference is reported', async () => {
    const warn = await judged('critical', '', { policies: parseAdmissionPolicies(policyYaml(w).replace('  images:', '  mode: warn\n  images:'), 'p.yaml') });
    expect(warn.allowed).to.equal(true);
    expect(warn.warnings.join('\n')).to.match(/vulns\.none-blocking/);
    const later = await judged('good', `  rules:\n    - code: source.main\n      condition: "provenance.source.repository == 'https://github.com/acme/other'"\n      fix: build from acme/other\n      effectiveOn: '2999-01-01'\n`);
    expect(later.allowed).to.equal(true);
    expect(later.warnings.join('\n')).to.match(/source\.main: condition is false.*enforced from 2999-01-01/);
    const excepted = await judged('critical', `  exceptions:\n    - rules: [vulns.none-blocking]\n      images: ['registry.example/acme/*']\n      until: '2999-01-01'\n      reference: https://tickets.example/SEC-1\n`);
    expect(excepted.allowed).to.equal(true);
    expect(excepted.warnings.join('\n')).to.match(/excepted until 2999-01-01 \(https:\/\/tickets\.example\/SEC-1\)/);
    const expired = await judged('critical', `  exceptions:\n    - rules: ['*']\n      images: ['registry.example/**']\n      until: '2020-01-01'\n      reference: SEC-0\n`);
    expect(expired.allowed).to.equal(false);
  });

  it('CEL conditions see the verified evidence: a true condition passes, a false one fails with its code', async () => {
    const ok = await judged('good', `  rules:\n    - code: tests.count\n      condition: "tests.all(t, size(t.passedTests) >= 2) && risk.tier == 'high' && approvals.exists(a, 'security' in a.groups)"\n      fix: n/a\n`);
    expect(ok.allowed, ok.reasons.join('\n')).to.equal(true);
    const bad = await judged('good', `  rules:\n    - code: source.other\n      condition: "provenance.source.commit == 'nope'"\n      fix: rebuild\n`);
    expect(bad.reasons.join('\n')).to.match(/^source\.other: condition is false/);
    const err = await judged('good', `  rules:\n    - code: bad.field\n      condition: "provenance.nosuchfield == 1"\n      fix: fix the policy\n`);
    expect(err.allowed).to.equal(false);
    expect(err.reasons.join('\n')).to.match(/bad\.field: the condition could not be evaluated: .*nosuchfield/);
  });

  it('a tag is resolved to its digest; a tag whose digest lacks evidence is denied; an unresolvable tag is denied', async () => {
    const resolve = (image: string): Promise<{ registry: string; repository: string; digest: string }> =>
      image.endsWith(':v1') ? Promise.resolve({ registry: 'registry.example', repository: 'acme/app', digest: digestOf('good') }) : image.endsWith(':v2') ? Promise.resolve({ registry: 'registry.example', repository: 'acme/app', digest: digestOf('nothing') }) : Promise.reject(new VouchError('STORE_NOT_FOUND', 'no such tag'));
    const e = engine('', { resolve });
    const v1 = await e.judgeImage(`${REPO}:v1`, { namespace: 'prod' });
    expect(v1.allowed).to.equal(true);
    expect(v1.digest).to.equal(digestOf('good'));
    const v2 = await e.judgeImage(`${REPO}:v2`, { namespace: 'prod' });
    expect(v2.allowed).to.equal(false);
    expect(v2.reasons[0]).to.match(/^signature\.verified: no attestation for sha256:/);
    const v3 = await e.judgeImage(`${REPO}:v3`, { namespace: 'prod' });
    expect(v3.allowed).to.equal(false);
    expect(v3.reasons[0]).to.match(/^image\.digest: .*no such tag/);
  });

  it('an image no policy covers is denied by default, admitted when configured; a bad reference is denied', async () => {
    const e = engine();
    expect((await e.judgeImage('other.example/x@sha256:' + digestOf('x'), { namespace: 'prod' })).reasons[0]).to.match(/^policy\.none/);
    expect((await engine('', { noMatch: 'allow' }).judgeImage('other.example/x:1', { namespace: 'prod' })).allowed).to.equal(true);
    expect((await e.judgeImage('Not An Image', { namespace: 'prod' })).reasons[0]).to.match(/^image\.reference/);
  });

  it("asks the log's index by digest (/api/v1/index/retrieve) when a Rekor URL is given", async () => {
    const server = await serve(w.log, '127.0.0.1', 0);
    try {
      const v = await judged('good', '', { rekor: new RekorClient(server.url) });
      expect(v.allowed).to.equal(true);
      // the five attestations about the digest; approvals are about the commit, not the image
      expect(v.logEntries).to.have.length(5);
      expect(v.logEntries!.every((e) => /^[0-9a-f]{80}$|^[0-9a-f]{64}$/.test(e))).to.equal(true);
      const none = await judged('nothing-here', '', { rekor: new RekorClient(server.url) });
      expect(none.logEntries).to.deep.equal([]);
    } finally {
      await server.close();
    }
  });

  it('a store that fails makes the engine deny (fail closed), not crash', async () => {
    const broken = { kind: 'local' as const, put: () => Promise.reject(new Error('x')), list: () => Promise.reject(new VouchError('STORE_UNAVAILABLE', 'disk gone')) };
    const v = await engine('', { stores: [broken] }).judgeImage(`${REPO}@sha256:${digestOf('good')}`, { namespace: 'prod' });
    expect(v.allowed).to.equal(false);
    expect(v.reasons[0]).to.match(/^engine\.error: disk gone/);
  });
});
