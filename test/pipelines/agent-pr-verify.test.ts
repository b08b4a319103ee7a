// agent-pr-verify end to end, as a user runs it: `vouch run --pipeline-name agent-pr-verify` (vouch's own Pipeline
// and Tasks, every step sandboxed) on a real git repository made from the demo's example material
// (hack/demo/example/), with the in-process sidecar (`--store --log-data --key`) attesting the run. A reviewer's
// approval goes through a second, real `vouch sidecar` process (its approvals API) with `vouch approve` while the gate
// waits, and the gate reads it from that sidecar's approvals directory.
// The build is files only (npm pack) in most runs (the example's Containerfile is dropped from their policy, to keep
// them short). The image path runs once, sandboxed like every step (buildah as root of a user namespace nested in the
// build's sandbox, docs/build.md), with the network allowed to the build task only, pushing to a real docker-registry.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AGENT_RUN_V01, APPROVAL_V01, CYCLONEDX_BOM, RISK_ASSESSMENT_V01, SLSA_PROVENANCE_V1, TEST_RESULT_V01, VULNS_V01 } from '../../src/attest/predicates.ts';
import { publicKeyOf, parsePrivateKey } from '../../src/attest/keys.ts';
import { verifyBundle } from '../../src/attest/verify.ts';
import { REPO_ROOT, runVouch, SHARED, stopProcess, type CliResult } from '../helpers/cli.ts';
import { startSidecarProcess, type Child } from '../sidecar/procs.ts';
import { TOKEN } from '../sidecar/helpers.ts';
import { TestRegistry } from '../store/registry-harness.ts';
import { git, requireTool } from '../stages/helpers.ts';

const EXAMPLE = join(REPO_ROOT, 'hack/demo/example');
const REVIEWER_KEY = join(REPO_ROOT, 'hack/demo/keys/demo-reviewer.key');
const REVIEWER = 'reviewer@demo.vouch.dev';

interface Statement {
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}
interface Run {
  r: CliResult;
  source: string;
  runDir: string;
  store: string;
  tlog: string;
  pipelineRun: { metadata: { name: string; namespace: string }; status: { results?: { name: string; value: unknown }[]; skippedTasks?: { name: string; reason: string }[]; conditions: { reason: string }[] } };
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the shape it reads
const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

describe('pipelines: agent-pr-verify end to end under vouch run (real Tasks, scripted agent, an approval, in-process sidecar)', function () {
  this.timeout(300_000);
  let root = '';
  let approvalsSidecar: Child | undefined;
  let n = 0;

  before(async function () {
    requireTool('bwrap');
    requireTool('git');
    requireTool('npm');
    // the sandbox hides /tmp: repositories and workspaces live where steps can see them
    root = mkdtempSync('/var/tmp/vouch-agent-pr-verify-');
    for (const k of ['signer', 'approvals-signer']) {
      const keys = await runVouch(['keys', 'generate', '--out', join(root, k)], { env: { VOUCH_KEY_PASSWORD: '' } });
      expect(keys.code, keys.stderr).to.equal(0);
    }
    // the sidecar reviewers submit approvals to (POST /approvals); it logs them in its own embedded log
    const config = join(root, 'approvals-sidecar.yaml');
    writeFileSync(config, [`signing: { key: ${join(root, 'approvals-signer.key')} }`, `tlog: { data: ${join(root, 'approvals-tlog')} }`, 'sidecar:', '  listen: 127.0.0.1:0', `  data: ${join(root, 'approvals-sidecar')}`, `  store: ${join(root, 'approvals-store')}`, ''].join('\n'));
    approvalsSidecar = await startSidecarProcess(config, { VOUCH_KEY_PASSWORD: '' });
    // the gate counts only approvals it can prove are in that log
    const approvalsRoot = await runVouch(['log', 'trusted-root', '--data', join(root, 'approvals-tlog')]);
    expect(approvalsRoot.code, approvalsRoot.stderr).to.equal(0);
    writeFileSync(join(root, 'approvals-trusted-root.json'), approvalsRoot.stdout);
  });
  after(async () => {
    if (approvalsSidecar) await stopProcess(approvalsSidecar.proc, 'SIGTERM');
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** The demo's example repository as a fresh git repository (files-only build unless `image`); returns its base commit. */
  function exampleRepo(o: { image?: boolean } = {}): { repo: string; base: string } {
    const repo = join(root, `repo-${String(++n)}`);
    cpSync(join(EXAMPLE, 'repo'), repo, { recursive: true });
    const policy = join(repo, '.vouch/policy.yaml');
    const text = readFileSync(policy, 'utf8');
    expect(text).to.match(/^ {2}containerfile: Containerfile\n/m);
    if (o.image !== true) writeFileSync(policy, text.replace(/^ {2}containerfile: Containerfile\n/m, ''));
    git(repo, ['init', '--quiet', '--initial-branch=main']);
    git(repo, ['add', '--all']);
    git(repo, ['commit', '--quiet', '--no-gpg-sign', '-m', 'the example shop']);
    return { repo, base: git(repo, ['rev-parse', 'HEAD']).trim() };
  }

  /** `vouch run --pipeline-name agent-pr-verify`; `whileRunning` acts on the run while it is in progress. */
  async function run(params: string[], whileRunning?: (source: string, runDir: string, finished: () => boolean) => Promise<void>, extraArgs: string[] = []): Promise<Run> {
    const dir = join(root, `run-${String(++n)}`);
    const source = join(dir, 'source');
    const osv = join(dir, 'osv');
    mkdirSync(source, { recursive: true });
    cpSync(join(SHARED, 'fixtures', 'osv'), osv, { recursive: true, dereference: true });
    const runDir = join(dir, 'run');
    const store = join(dir, 'store');
    const tlog = join(dir, 'tlog');
    let done = false;
    const running = runVouch(
      ['run', '--pipeline-name', 'agent-pr-verify', ...params.flatMap((p) => ['-p', p]), '-w', `source=${source}`, '-w', `osv-database=${osv}`,
        '--run-dir', runDir, '--store', store, '--log-data', tlog, '--key', join(root, 'signer.key'), ...extraArgs],
      { env: { VOUCH_SIDECAR_DATA: join(dir, 'sidecar'), VOUCH_KEY_PASSWORD: '' }, timeoutMs: 240_000 },
    ).finally(() => (done = true));
    if (whileRunning) await whileRunning(source, runDir, () => done);
    const r = await running;
    return { r, source, runDir, store, tlog, pipelineRun: readJson(join(runDir, 'pipelinerun.json')) };
  }

  const result = (run: Run, name: string): unknown => run.pipelineRun.status.results?.find((x) => x.name === name)?.value;
  const taskRunResult = (run: Run, task: string, name: string): unknown => {
    const file = readdirSync(join(run.runDir, 'taskruns')).find((f) => f.endsWith(`-${task}.json`));
    const tr = readJson<{ status: { results?: { name: string; value: unknown }[] } }>(join(run.runDir, 'taskruns', file!));
    return tr.status.results?.find((x) => x.name === name)?.value;
  };

  /** Every bundle in the store: checked with `vouch verify-bundle` (signer key, the run's log), then decoded. */
  async function verifiedStatements(run: Run): Promise<{ artifact: string; statements: Map<string, Statement> }> {
    const trustedRoot = await runVouch(['log', 'trusted-root', '--data', run.tlog]);
    expect(trustedRoot.code, trustedRoot.stderr).to.equal(0);
    const trustedRootFile = join(run.runDir, 'trusted_root.json');
    writeFileSync(trustedRootFile, trustedRoot.stdout);
    const digests = readdirSync(run.store);
    expect(digests, 'one artifact').to.have.length(1);
    const artifact = digests[0]!;
    const statements = new Map<string, Statement>();
    for (const b of readdirSync(join(run.store, artifact)).filter((f) => f.endsWith('.sigstore.json'))) {
      const path = join(run.store, artifact, b);
      const v = await runVouch(['verify-bundle', `sha256:${artifact}`, '--bundle', path, '--key', join(root, 'signer.pub'), '--trusted-root', trustedRootFile]);
      expect(v.code, v.stderr + v.stdout).to.equal(0);
      const s = JSON.parse(Buffer.from(readJson<{ dsseEnvelope: { payload: string } }>(path).dsseEnvelope.payload, 'base64').toString('utf8')) as Statement;
      expect(statements.has(s.predicateType), `one ${s.predicateType}`).to.equal(false);
      statements.set(s.predicateType, s);
    }
    return { artifact, statements };
  }

  /** npm pack of the commit's tree, done here independently of the pipeline: the artifact it must have built. */
  function packed(repo: string, commit: string): string {
    const tree = join(root, `pack-${String(++n)}`);
    mkdirSync(tree);
    execFileSync('sh', ['-c', `git -C "${repo}" archive ${commit} | tar -x -C "${tree}"`]);
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent'], { cwd: tree, env: { ...process.env, npm_config_cache: join(tree, '.npm'), SOURCE_DATE_EPOCH: '0' } });
    return sha256(readFileSync(join(tree, 'vouch-demo-shop-1.0.0.tgz')));
  }

  it('with the demo prompt: the agent\'s commit is verified, medium risk waits for `vouch approve`, and the tarball carries six verified attestations', async () => {
    const { repo, base } = exampleRepo();
    const actions = readJson<string[]>(join(EXAMPLE, 'agent-actions.json'));
    const agent = JSON.stringify(['node', join(REPO_ROOT, 'hack/agent/scripted-agent.ts'), ...actions]);
    let approved: CliResult | undefined;
    const r = await run(
      [`repo-url=${repo}`, `base-revision=${base}`, `head-revision=${base}`, `prompt=${readFileSync(join(EXAMPLE, 'prompt.md'), 'utf8')}`, 'prompt-version=demo-1', `agent=${agent}`,
        `approvals=${join(root, 'approvals-sidecar', 'approvals')}`, `tlog-trusted-root=${join(root, 'approvals-trusted-root.json')}`, 'approval-timeout-seconds=150',
        'requested-by=github:Prompter'],
      async (source, runDir, finished) => {
        // once the gate waits (classify's assessment is in the workspace), the reviewer approves what they read
        const gateLog = join(runDir, 'logs', 'gate', 'gate.log');
        while (!finished() && !(existsSync(gateLog) && readFileSync(gateLog, 'utf8').includes('waiting for approvals'))) await new Promise((res) => setTimeout(res, 200));
        if (finished()) return;
        const pr = readJson<Run['pipelineRun']>(join(runDir, 'pipelinerun.json'));
        approved = await runVouch(['approve', '--run', `${pr.metadata.namespace}/${pr.metadata.name}`, '--key', REVIEWER_KEY, '--reviewer', REVIEWER, '--source', source, '--sidecar', approvalsSidecar!.url, '--comment', 'the discount is tested'], { env: { VOUCH_SINK_TOKEN: TOKEN } });
      },
    );
    expect(approved?.code, `${approved?.stderr ?? 'the gate never waited'}\n${r.r.stdout}`).to.equal(0);
    expect(r.r.code, r.r.stdout + r.r.stderr).to.equal(0);
    expect(r.pipelineRun.status.conditions[0]!.reason).to.equal('Succeeded');
    expect(result(r, 'risk-tier')).to.equal('medium');
    expect(result(r, 'approval-state')).to.equal('approved');
    expect(JSON.parse(String(taskRunResult(r, 'gate', 'APPROVED_BY')))).to.deep.equal([REVIEWER]);

    // the stages judged the agent's commit: HEAD of the workspace, on top of the base, with the agent-run trailers
    const head = git(r.source, ['rev-parse', 'HEAD']).trim();
    expect(git(r.source, ['rev-parse', 'HEAD~1']).trim()).to.equal(base);
    expect(git(r.source, ['log', '-1', '--format=%(trailers:key=Agent-Run,valueonly)']).trim()).to.equal(taskRunResult(r, 'agent-run', 'run-id'));
    expect(taskRunResult(r, 'agent-run', 'commit')).to.equal(head);
    const assessment = readJson<{ headRevision: string; baseRevision: string; tier: string; requestedBy: string[] }>(join(r.source, '.vouch/reports/classify/risk-assessment.json'));
    expect(assessment).to.include({ headRevision: head, baseRevision: base, tier: 'medium' });
    // who set the agent on the change, from the pipeline param through classify into the signed assessment
    expect(assessment.requestedBy).to.deep.equal(['github:prompter']);
    // the secrets stage got the agent's transcript from the change task
    expect(readJson<{ params: Record<string, string> }>(join(r.source, '.vouch/reports/secrets/report.json')).params['transcript']).to.equal('.vouch/reports/agent-run/transcript.jsonl');
    expect(String(taskRunResult(r, 'secrets', 'TEST_OUTPUT'))).to.include('(with the transcript)');

    // the counted approval: the reviewer's signature over this head commit and this assessment, in the log
    const approvalLog = await runVouch(['log', 'trusted-root', '--data', join(root, 'approvals-tlog')]);
    expect(approvalLog.code, approvalLog.stderr).to.equal(0);
    const approval = verifyBundle({ bundle: readJson<unknown>(join(r.source, '.vouch/reports/gate/approvals/0.sigstore.json')), artifact: { gitCommit: head }, policy: { publicKey: publicKeyOf(parsePrivateKey(readFileSync(REVIEWER_KEY, 'utf8'), 'reviewer')) }, trustedRoot: JSON.parse(approvalLog.stdout) as unknown });
    expect(approval.statement?.predicateType).to.equal(APPROVAL_V01);
    expect(approval.statement?.predicate).to.deep.include({ decision: 'approve', headCommit: head, riskAssessment: { digest: { sha256: sha256(readFileSync(join(r.source, '.vouch/reports/classify/risk-assessment.json'))) }, tier: 'medium' } });

    // the artifact is the npm pack tarball of the agent's commit, and every statement is about it
    const { artifact, statements } = await verifiedStatements(r);
    expect(artifact).to.equal(packed(r.source, head));
    expect([...statements.keys()].sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01, CYCLONEDX_BOM, VULNS_V01, AGENT_RUN_V01, RISK_ASSESSMENT_V01].sort());
    const provenance = statements.get(SLSA_PROVENANCE_V1)!;
    expect(provenance.subject).to.have.length(1);
    expect(provenance.subject[0]!.digest).to.deep.equal({ sha256: artifact });
    for (const s of statements.values()) expect(s.subject, s.predicateType).to.deep.equal(provenance.subject);

    // the provenance names the agent run's evidence by digest; the signed agent-run statement is that very file
    const agentFile = join(r.source, '.vouch/reports/agent-run/predicate.json');
    const byproducts = (provenance.predicate as { runDetails: { byproducts: { name: string; uri?: string; digest?: Record<string, string>; annotations?: Record<string, string> }[] } }).runDetails.byproducts;
    expect(byproducts).to.deep.include({ name: 'agent-run/AGENT_RUN_EVIDENCE', uri: pathToFileURL(agentFile).href, digest: { sha256: sha256(readFileSync(agentFile)) }, annotations: { predicateType: AGENT_RUN_V01 } });
    expect(statements.get(AGENT_RUN_V01)!.predicate).to.deep.equal(readJson(agentFile));
    expect(statements.get(RISK_ASSESSMENT_V01)!.predicate).to.include({ tier: 'medium', headRevision: head });
    expect((statements.get(TEST_RESULT_V01)!.predicate as { passedTests: string[] }).passedTests).to.include('a discount takes its percentage off');
  });

  it('without a prompt: agent-run is skipped, the change as pushed (docs only) is low risk, auto-approved, and attested without agent-run evidence', async () => {
    const { repo, base } = exampleRepo();
    writeFileSync(join(repo, 'README.md'), `${readFileSync(join(repo, 'README.md'), 'utf8')}\nHow to pay: see src/price.js.\n`);
    git(repo, ['commit', '--quiet', '--no-gpg-sign', '-am', 'docs: how to pay']);
    const head = git(repo, ['rev-parse', 'HEAD']).trim();
    const r = await run([`repo-url=${repo}`, `base-revision=${base}`, `head-revision=${head}`]);
    expect(r.r.code, r.r.stdout + r.r.stderr).to.equal(0);
    expect(r.pipelineRun.status.skippedTasks).to.deep.equal([{ name: 'agent-run', reason: 'When Expressions evaluated to false', whenExpressions: [{ input: '', operator: 'notin', values: [''] }] }]);
    expect(result(r, 'risk-tier')).to.equal('low');
    expect(result(r, 'approval-state')).to.equal('auto-approved');
    // the finally report: Tekton's statuses of every task (agent-run None: skipped) and the run it describes
    const summary = readJson<{ run: Record<string, string>; aggregateStatus: string; taskStatuses: { task: string; status: string }[] }>(join(r.source, '.vouch/reports/report/summary.json'));
    expect(summary.aggregateStatus).to.equal('Completed');
    expect(summary.taskStatuses).to.have.length(12).and.deep.include({ task: 'agent-run', status: 'None' }).and.deep.include({ task: 'gate', status: 'Succeeded' });
    expect(summary.run).to.include({ pipelineRun: r.pipelineRun.metadata.name, repository: repo, baseRevision: base, headRevision: head });
    const { artifact, statements } = await verifiedStatements(r);
    expect(artifact).to.equal(packed(repo, head));
    expect([...statements.keys()].sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01, CYCLONEDX_BOM, VULNS_V01, RISK_ASSESSMENT_V01].sort());
  });

  describe('the image path of the demo (Containerfile, buildah, a real registry on loopback)', () => {
    const registry = new TestRegistry();
    before(async function () {
      requireTool('buildah');
      await registry.start();
    });
    after(async () => {
      await registry.stop();
      registry.cleanup();
    });

    it('sandboxed, an agent documenting the shop: the image is built twice, identical, pushed, and a provenance subject beside the tarball', async () => {
      const { repo, base } = exampleRepo({ image: true });
      const agent = JSON.stringify(['node', join(REPO_ROOT, 'hack/agent/scripted-agent.ts'), 'write:docs/pricing.md=# Pricing\\n\\nPrices are in cents.\\n']);
      const ref = `${registry.host}/demo/shop:1.0.0`;
      const r = await run([`repo-url=${repo}`, `base-revision=${base}`, `head-revision=${base}`, 'prompt=Document how prices work.', 'prompt-version=1', `agent=${agent}`, `image=${ref}`, 'image-tls-verify=false'], undefined, ['--allow-network', 'build']);
      expect(r.r.code, r.r.stdout + r.r.stderr).to.equal(0);
      expect(result(r, 'risk-tier')).to.equal('low');
      const head = git(r.source, ['rev-parse', 'HEAD']).trim();
      expect(taskRunResult(r, 'agent-run', 'commit')).to.equal(head);
      expect(taskRunResult(r, 'build', 'IMAGE_URL')).to.equal(ref);
      const res = await fetch(`http://${registry.host}/v2/demo/shop/manifests/1.0.0`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(res.status).to.equal(200);
      const imageDigest = sha256(Buffer.from(await res.arrayBuffer()));
      expect(taskRunResult(r, 'build', 'IMAGE_DIGEST')).to.equal(`sha256:${imageDigest}`);
      // the store files every statement under each subject; the provenance names both artifacts
      expect(readdirSync(r.store).sort()).to.deep.equal([imageDigest, packed(r.source, head)].sort());
      const provenance = readdirSync(join(r.store, imageDigest)).find((f) => f.startsWith('slsa.dev-provenance-v1') && f.endsWith('.sigstore.json'))!;
      const s = JSON.parse(Buffer.from(readJson<{ dsseEnvelope: { payload: string } }>(join(r.store, imageDigest, provenance)).dsseEnvelope.payload, 'base64').toString('utf8')) as Statement;
      expect(s.subject.map((x) => x.digest['sha256']).sort()).to.deep.equal([imageDigest, packed(r.source, head)].sort());
      expect(readdirSync(join(r.store, imageDigest)).filter((f) => f.endsWith('.sigstore.json'))).to.have.length(6);
    });
  });

  it('a prompt the agent answers with no change: the stages are skipped, the run ends Completed and nothing is attested', async () => {
    const { repo, base } = exampleRepo();
    const r = await run([`repo-url=${repo}`, `base-revision=${base}`, `head-revision=${base}`, 'prompt=Refactor nothing.', 'prompt-version=1', `agent=${JSON.stringify(['node', join(REPO_ROOT, 'hack/agent/scripted-agent.ts'), 'noop'])}`]);
    expect(r.r.code, r.r.stdout + r.r.stderr).to.equal(0);
    expect(r.pipelineRun.status.conditions[0]!.reason).to.equal('Completed');
    expect(taskRunResult(r, 'agent-run', 'changed')).to.equal('false');
    expect(taskRunResult(r, 'change', 'verify')).to.equal('false');
    expect(r.pipelineRun.status.skippedTasks?.map((s) => s.name)).to.deep.equal(['classify', 'lint', 'test', 'secrets', 'mutation', 'sbom', 'sca', 'build', 'gate']);
    expect(readFileSync(join(r.runDir, 'logs', 'change', 'change.log'), 'utf8')).to.include('the agent made no change');
    expect(existsSync(r.store)).to.equal(false);
  });
});
