// tasks/classify.yaml and tasks/gate.yaml under `vouch run` (sandboxed steps): clone -> classify -> secrets -> gate.
// A docs-only change goes through without waiting; a new dependency waits in the gate until a reviewer approves it
// through the sidecar's HTTP API, which the gate step reaches because the run allows it the network (--allow-network
// gate), as a cluster's NetworkPolicy would allow it the sidecar Service.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse as parseYaml, stringify } from 'yaml';
import { signApproval } from '../../src/attest/approval.ts';
import { generateKeyPair, parsePrivateKey, publicKeyPem } from '../../src/attest/keys.ts';
import { sha256Hex } from '../../src/common/digest.ts';
import { ApprovalDesk, Sidecar, serveSidecar, type RunningServer } from '../../src/sidecar/index.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { CLI, REPO_ROOT } from '../helpers/cli.ts';
import { quiet, TOKEN } from '../sidecar/helpers.ts';
import { commit, git, initRepo, requireTool } from './helpers.ts';

const PIPELINE = join(REPO_ROOT, 'test/stages/fixtures/risk-gate.yaml');

interface Ran {
  code: number | null;
  stderr: string;
  results: Record<string, string>;
}

describe('tasks/classify.yaml and tasks/gate.yaml under vouch run', function () {
  this.timeout(180_000);
  // the sandbox hides /tmp: repositories and workspaces live where steps can see them
  let root = '';
  let upstream = '';
  let log: EmbeddedLog;
  let sidecar: Sidecar;
  let server: RunningServer;
  const alice = parsePrivateKey(generateKeyPair().privateKeyPem, 'alice');
  let n = 0;

  before(async () => {
    requireTool('git');
    requireTool('bwrap');
    root = mkdtempSync('/var/tmp/vouch-risk-tasks-');
    upstream = initRepo(join(root, 'upstream'));
    const policy = ['version: 1', 'reviewers:', '  people:', '    - id: alice@example.com', '      public-key: |', ...publicKeyPem(alice).trim().split('\n').map((l) => `        ${l}`)].join('\n') + '\n';
    commit(upstream, { '.vouch/policy.yaml': policy, 'README.md': '# shop\n', 'package.json': '{"name":"shop"}\n' }, 'base');
    git(upstream, ['tag', 'base']);
    commit(upstream, { 'docs/guide.md': '# guide\n' }, 'docs');
    git(upstream, ['branch', 'docs']);
    git(upstream, ['checkout', '--quiet', 'base']);
    commit(upstream, { 'src/cart.ts': 'export const cart = 1;\n' }, 'code');
    git(upstream, ['branch', 'code']);
    log = await EmbeddedLog.open(join(root, 'tlog'), { logger: quiet });
    sidecar = await Sidecar.open({ dataDir: join(root, 'sidecar'), privateKey: parsePrivateKey(generateKeyPair().privateKeyPem, 'sidecar'), store: { kind: 'local', put: () => Promise.reject(new Error('unused')), list: () => Promise.resolve([]) }, tlog: { embedded: log }, logger: quiet });
    server = await serveSidecar(sidecar, '127.0.0.1', 0, { token: TOKEN, approvals: new ApprovalDesk({ dataDir: join(root, 'sidecar'), tlog: { embedded: log }, logger: quiet }) });
  });
  after(async () => {
    await server.close();
    await sidecar.close();
    await log.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Runs the pipeline as PipelineRun ci/<name>; `whileRunning` gets the workspace while the run goes on. */
  async function run(name: string, revision: string, params: Record<string, string>, allowNetwork: boolean, whileRunning?: (workspace: string, exited: () => boolean) => Promise<void>): Promise<Ran> {
    const dir = join(root, `run-${String(++n)}`);
    const workspace = join(dir, 'ws');
    mkdirSync(workspace, { recursive: true });
    const pipeline = parseYaml(readFileSync(PIPELINE, 'utf8')) as { spec: unknown };
    const prFile = join(root, `${name}.yaml`);
    const all = { url: upstream, revision, 'base-revision': 'base', ...params };
    writeFileSync(prFile, stringify({ apiVersion: 'tekton.dev/v1', kind: 'PipelineRun', metadata: { name, namespace: 'ci' }, spec: { pipelineSpec: pipeline.spec, params: Object.entries(all).map(([k, v]) => ({ name: k, value: v })), workspaces: [{ name: 'source', emptyDir: {} }] } }));
    const child = spawn(process.execPath, [CLI, 'run', '--pipelinerun', prFile, '--tasks', join(REPO_ROOT, 'tasks'), '-w', `source=${workspace}`, '--run-dir', join(dir, 'run'), ...(allowNetwork ? ['--allow-network', 'gate'] : [])], { cwd: REPO_ROOT, env: { ...process.env, VOUCH_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const done = new Promise<number | null>((resolve) => child.on('close', resolve));
    if (whileRunning) await whileRunning(workspace, () => child.exitCode !== null);
    const code = await done;
    if (!existsSync(join(dir, 'run', 'pipelinerun.json'))) throw new Error(`vouch run exited ${String(code)} without a PipelineRun: ${stderr.slice(0, 2000)}`);
    const pr = JSON.parse(readFileSync(join(dir, 'run', 'pipelinerun.json'), 'utf8')) as { status: { results?: { name: string; value: string }[] } };
    return { code, stderr, results: Object.fromEntries((pr.status.results ?? []).map((r) => [r.name, r.value])) };
  }

  it('a docs-only change: low, and the gate passes without waiting for anyone', async () => {
    const r = await run('docs-1', 'docs', {}, false);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.results).to.include({ tier: 'low', 'approval-state': 'auto-approved' });
  });

  it('a code change: medium, the gate waits until alice approves through the sidecar', async () => {
    const r = await run('code-1', 'code', { approvals: server.url, 'timeout-seconds': '120' }, true, async (ws, exited) => {
      const file = join(ws, '.vouch/reports/classify/risk-assessment.json');
      for (let i = 0; i < 600 && !existsSync(file) && !exited(); i++) await new Promise((res) => setTimeout(res, 100));
      const text = readFileSync(file, 'utf8');
      const a = JSON.parse(text) as { repository: string; pullRequest: string; headRevision: string; tier: 'medium' };
      expect(a.tier).to.equal('medium');
      const { envelope } = signApproval({ decision: 'approve', reviewer: { id: 'alice@example.com' }, repository: a.repository, pullRequest: a.pullRequest, headCommit: a.headRevision, pipelineRun: 'ci/code-1', riskAssessment: { digest: { sha256: sha256Hex(text) }, tier: a.tier }, timestamp: '2026-11-24T16:00:00Z' }, alice);
      const res = await fetch(`${server.url}/approvals`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ envelope, publicKey: publicKeyPem(alice) }) });
      expect(res.status).to.equal(201);
    });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.results).to.include({ tier: 'medium', 'approval-state': 'approved', 'approved-by': '["alice@example.com"]' });
  });

  it('without an approval the gate fails the PipelineRun when its wait is over', async () => {
    const r = await run('code-2', 'code', { approvals: join(root, 'sidecar', 'approvals'), 'timeout-seconds': '0' }, false);
    expect(r.code).to.equal(1);
    expect(r.results['tier']).to.equal('medium');
  });
});
