import { expect } from 'chai';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVouch } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { digestOf, makeWorld, policyYaml, putEvidence, REPO, type World } from '../admission/helpers.ts';
import { PREDICATES } from '../../src/policy/admission.ts';

describe('cli: vouch verify and vouch audit', function () {
  this.timeout(60_000);
  let w: World;
  let dir: string;
  const GOOD = `${REPO}@sha256:${digestOf('good')}`;
  const CRIT = `${REPO}@sha256:${digestOf('critical')}`;
  let common: string[];
  before(async () => {
    dir = tempDir('vouch-verify-cli-');
    w = await makeWorld(dir);
    await putEvidence(w, { digest: digestOf('good'), agentRun: true });
    await putEvidence(w, { digest: digestOf('critical'), criticalVuln: true });
    await putEvidence(w, { digest: digestOf('no-sbom'), omit: [PREDICATES.sbom] });
    await w.close(); // the CLI opens the log itself
    writeFileSync(join(dir, 'sidecar.pub'), w.sidecarPub);
    writeFileSync(join(dir, 'sidecar.key'), w.sidecarKey.export({ type: 'pkcs8', format: 'pem' }));
    for (const [who, r] of Object.entries(w.reviewers)) writeFileSync(join(dir, `${who}.pub`), r.pub);
    writeFileSync(join(dir, 'policy.yaml'), policyYaml(w));
    writeFileSync(join(dir, 'root.json'), JSON.stringify(w.trustedRootJson));
    common = ['--store', w.storeDir, '--log-data', join(dir, 'log'), '--approvals', w.approvalsDir];
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const defaults = (): string[] => ['--key', join(dir, 'sidecar.pub'), '--approver', `alice@example.com=${join(dir, 'alice.pub')}:security`, '--approver', `bob@example.com=${join(dir, 'bob.pub')}:dev`];

  it('the default policy admits an image with every gate and approval (exit 0), with a per-rule table', async () => {
    const r = await runVouch(['verify', ...common, ...defaults(), GOOD]);
    expect(r.code, r.stderr + r.stdout).to.equal(0);
    expect(r.stdout).to.match(/^ADMITTED {2}registry\.example\/acme\/app@sha256:/m);
    expect(r.stdout).to.match(/✓ pass +approvals\.satisfied +risk tier high/);
    expect(r.stdout).to.match(/admitted: 1 image\(s\)/);
  });

  it('denies (exit 1) with the failing rule, its evidence and the fix; JSON and YAML outputs', async () => {
    const r = await runVouch(['verify', ...common, ...defaults(), CRIT, `${REPO}@sha256:${digestOf('no-sbom')}`]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/✗ fail +vulns\.none-blocking +1 blocking finding\(s\): GHSA-xxxx-yyyy-zzzz \(critical\)/);
    expect(r.stdout).to.match(/✗ fail +sbom\.present +no verified SBOM attestation\n +fix: run the sbom stage/);
    const j = await runVouch(['verify', ...common, ...defaults(), '-o', 'json', CRIT]);
    const doc = JSON.parse(j.stdout) as { admitted: boolean; images: { allowed: boolean; policies: { rules: { code: string; outcome: string }[] }[] }[] };
    expect(doc.admitted).to.equal(false);
    expect(doc.images[0]!.policies[0]!.rules.find((x) => x.code === 'vulns.none-blocking')!.outcome).to.equal('fail');
    const y = await runVouch(['verify', ...common, ...defaults(), '-o', 'yaml', GOOD]);
    expect(y.stdout).to.match(/^admitted: true$/m);
  });

  it('without a key the default policy is a usage error; a wrong key denies everything', async () => {
    const r = await runVouch(['verify', ...common, GOOD]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/--key/);
    const wrong = await runVouch(['verify', ...common, '--key', join(dir, 'carol.pub'), GOOD]);
    expect(wrong.code).to.equal(1);
    expect(wrong.stdout).to.match(/signature\.verified/);
  });

  it('-f MANIFEST judges every image of every carrier as the webhook would', async () => {
    const manifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: prod}
spec:
  template:
    spec:
      initContainers: [{name: init, image: "${GOOD}"}]
      containers: [{name: app, image: "${GOOD}"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 0 * * *"
  jobTemplate: {spec: {template: {spec: {containers: [{name: job, image: "${CRIT}"}]}}}}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
`;
    writeFileSync(join(dir, 'deploy.yaml'), manifest);
    const r = await runVouch(['verify', ...common, '--policy', join(dir, 'policy.yaml'), '-f', join(dir, 'deploy.yaml')]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.match(/ADMITTED {2}registry\.example\/acme\/app@sha256:[0-9a-f]+ .*\n +used at .*Deployment app spec\.template\.spec\.initContainers\[0\] \(init\)\n +used at .*containers\[0\] \(app\)/);
    expect(r.stdout).to.match(/DENIED {2}.*\n +used at .*CronJob nightly spec\.jobTemplate\.spec\.template\.spec\.containers\[0\]/);
    writeFileSync(join(dir, 'bad.yaml'), 'kind: Pod\nspec: {containers: [{name: x}]}\n');
    const bad = await runVouch(['verify', ...common, '--policy', join(dir, 'policy.yaml'), '-f', join(dir, 'bad.yaml')]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/spec\.containers\[0\] has no image/);
  });

  it('--vsa writes a signed, logged VSA that verifies and is put in the store', async () => {
    const r = await runVouch(['verify', ...common, '--policy', join(dir, 'policy.yaml'), '--vsa', join(dir, 'vsa'), '--sign-key', join(dir, 'sidecar.key'), GOOD]);
    expect(r.code, r.stderr).to.equal(0);
    const files = readdirSync(join(dir, 'vsa'));
    expect(files).to.deep.equal([`sha256-${digestOf('good')}.vsa.sigstore.json`]);
    const v = await runVouch(['verify-bundle', '--bundle', join(dir, 'vsa', files[0]!), '--key', join(dir, 'sidecar.pub'), '--trusted-root', join(dir, 'root.json'), `sha256:${digestOf('good')}`]);
    expect(v.code, v.stderr).to.equal(0);
    const audit = await runVouch(['audit', ...common, '--key', join(dir, 'sidecar.pub'), GOOD]);
    expect(audit.stdout).to.match(/- https:\/\/slsa\.dev\/verification_summary\/v1\n.*\n +verificationResult=PASSED/);
  });

  it('vouch audit replays the chain of custody: each attestation with its log entry, approvals and admission decisions', async () => {
    const auditLog = join(dir, 'audit.jsonl');
    appendFileSync(auditLog, `${JSON.stringify({ time: '2026-11-24T12:00:00Z', uid: 'u1', operation: 'CREATE', kind: 'Deployment', namespace: 'prod', name: 'app', user: 'deployer', allowed: true, breakGlass: true, images: [{ image: GOOD, digest: digestOf('good'), allowed: false, via: 'evaluated', reasons: ['x'], warnings: [] }] })}\n{broken ${digestOf('good')}\n`);
    const r = await runVouch(['audit', ...common, ...defaults(), '--audit-log', auditLog, GOOD]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/- https:\/\/slsa\.dev\/provenance\/v1\n +signed by key [0-9a-f]{16}…, log http:\/\/localhost entry #\d+ at 20\d\d-/);
    expect(r.stdout).to.match(/source https:\/\/github\.com\/acme\/app @ [0-9a-f]{40}/);
    expect(r.stdout).to.match(/evidence classify\/RISK_EVIDENCE: https:\/\/vouch\.dev\/attestation\/risk-assessment\/v0\.1/);
    expect(r.stdout).to.match(/- approval: approve by alice@example\.com/);
    expect(r.stdout).to.match(/run run-7f3a: agent scripted-agent 1\.0\.0, model claude-sonnet-4-5, outcome committed\n +prompt version v3, sha256:b{64}\n +sandbox bubblewrap, egress allowed to api\.anthropic\.com:443: 3 attempt\(s\), 1 refused/);
    expect(r.stdout).to.match(/admission decisions: 1 \(1 damaged line\(s\) skipped\)\n +2026-11-24T12:00:00Z CREATE Deployment prod\/app by deployer: BREAK-GLASS allowed \(break-glass\)/);
    const j = await runVouch(['audit', ...common, '--key', join(dir, 'sidecar.pub'), '--audit-log', auditLog, '-o', 'json', GOOD]);
    expect((JSON.parse(j.stdout) as { attestations: unknown[] }).attestations.length).to.be.greaterThanOrEqual(5);
  });

  it('vouch report draws the verified provenance graph, the evidence and the verdict on each image into the HTML page', async () => {
    const source = join(dir, 'workspace');
    mkdirSync(join(source, '.vouch', 'reports', 'classify'), { recursive: true });
    writeFileSync(join(source, '.vouch', 'reports', 'classify', 'report.json'), JSON.stringify({ stage: 'classify', passed: true, reasons: [], results: { RISK_TIER: 'high', RISK_REASONS: '["auth code"]' } }));
    const page = join(dir, 'report.html');
    const r = await runVouch(['report', ...common, ...defaults(), '--source', source, '--out', page, GOOD, CRIT]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(`report: ${page}\n`);
    const html = readFileSync(page, 'utf8');
    expect(html).to.contain('aria-label="provenance graph"');
    expect(html).to.contain('https://github.com/acme/app');
    // every statement on the page verified; the approval is listed with its reviewer
    expect(html).to.match(/SLSA provenance v1<\/td><td><span class="badge pass">VERIFIED/);
    expect(html).to.contain('approval: approve by alice@example.com');
    expect(html).to.match(/ADMITTED<\/span> <code>registry\.example\/acme\/app@sha256:/);
    expect(html).to.match(/DENIED<\/span> <code>registry\.example\/acme\/app@sha256:[0-9a-f]{64}<\/code><\/h3><p>denied: .*vulns\.none-blocking/);
    // a report on an image with no evidence still writes a page that says so, and exits 0
    const none = await runVouch(['report', ...common, ...defaults(), '--source', source, '--out', page, `${REPO}@sha256:${'0'.repeat(64)}`]);
    expect(none.code, none.stderr).to.equal(0);
    expect(readFileSync(page, 'utf8')).to.contain('No signed provenance was found');
    const bad = await runVouch(['report', ...common, ...defaults(), GOOD]);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/--source/);
  });
});
