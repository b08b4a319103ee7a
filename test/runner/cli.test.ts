// `vouch run` as a user runs it: exit codes, --json records, the sandbox explanation, Ctrl-C.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import type { PipelineRun } from '../../src/tekton/types.ts';
import { CLI, REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { FIXTURES } from './helpers.ts';

describe('vouch run (CLI)', function () {
  this.timeout(30_000);
  let root = '';
  beforeEach(() => {
    root = tempDir('vouch-run-cli-');
  });
  afterEach(() => { rmSync(root, { recursive: true, force: true }); });
  const base = (file: string): string[] => ['run', '--pipeline', join(FIXTURES, file), '--tasks', join(FIXTURES, 'tasks'), '--host-image', 'docker.io/library/busybox*', '--run-dir', join(root, 'run')];

  it('exits 0 for a succeeded run and 1 for a failed one; --json writes one record per transition', async () => {
    const ok = await runVouch([...base('continue.yaml'), '--json']);
    expect(ok.code, ok.stderr).to.equal(0);
    const failed = await runVouch([...base('finally.yaml'), '--json', '--run-dir', join(root, 'run2')]);
    expect(failed.code, failed.stderr).to.equal(1);
    const records = failed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; reason: string; state: string; pipelineTask?: string; event?: string });
    expect(records[0]).to.include({ kind: 'PipelineRun', reason: 'Started' });
    expect(records.at(-1)).to.include({ kind: 'PipelineRun', reason: 'Failed', state: 'failed' });
    expect(records.find((r) => r.kind === 'SkippedTask' && r.pipelineTask === 'downstream')).to.include({ reason: 'PipelineRun was stopping', state: 'skipped' });
    expect(records.find((r) => r.pipelineTask === 'boom' && r.state === 'failed')).to.include({ reason: 'Failed' });
    const pr = JSON.parse(readFileSync(join(root, 'run2', 'pipelinerun.json'), 'utf8')) as PipelineRun;
    expect(pr.status!.conditions![0]!.reason).to.equal('Failed');
  });

  it('an optional pipeline workspace the command line does not bind stays unbound for its tasks (as tkn leaves it)', async () => {
    const unbound = await runVouch([...base('optional-workspace.yaml')]);
    expect(unbound.code, unbound.stderr).to.equal(0);
    const result = (dir: string): unknown => (JSON.parse(readFileSync(join(dir, 'pipelinerun.json'), 'utf8')) as PipelineRun).status?.results?.find((r) => r.name === 'bound')?.value;
    expect(result(join(root, 'run'))).to.equal('false');
    expect(existsSync(join(root, 'run', 'workspaces', 'cache'))).to.equal(false);
    const cache = join(root, 'cache');
    mkdirSync(cache);
    const bound = await runVouch([...base('optional-workspace.yaml'), '--run-dir', join(root, 'run2'), '-w', `cache=${cache}`]);
    expect(bound.code, bound.stderr).to.equal(0);
    expect(result(join(root, 'run2'))).to.equal('true');
  });

  it('--sink posts the run\'s CloudEvents with the token from $VOUCH_SINK_TOKEN', async () => {
    const seen: { auth: string | undefined; type: string | undefined }[] = [];
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ auth: req.headers['authorization'], type: req.headers['ce-type'] as string | undefined });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
      const r = await runVouch([...base('continue.yaml'), '--sink', url], { env: { VOUCH_SINK_TOKEN: 'cli-token' } });
      expect(r.code, r.stderr).to.equal(0);
      expect(seen.map((x) => x.type)).to.deep.equal([
        'dev.tekton.event.pipelinerun.started.v1',
        'dev.tekton.event.pipelinerun.running.v1',
        'dev.tekton.event.taskrun.started.v1',
        'dev.tekton.event.taskrun.running.v1',
        'dev.tekton.event.taskrun.successful.v1',
        'dev.tekton.event.pipelinerun.successful.v1',
      ]);
      expect(seen.every((x) => x.auth === 'Bearer cli-token')).to.equal(true);
      expect(r.stderr).not.to.include('cli-token');
    } finally {
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    }
  });

  it('--store/--log-data/--key attest the finished run in-process through the embedded sidecar', async () => {
    const keys = await runVouch(['keys', 'generate', '--out', join(root, 'signer')], { env: { VOUCH_KEY_PASSWORD: '' } });
    expect(keys.code, keys.stderr).to.equal(0);
    const r = await runVouch([...base('image.yaml'), '--store', join(root, 'store'), '--log-data', join(root, 'tlog'), '--key', join(root, 'signer.key')], {
      env: { VOUCH_SIDECAR_DATA: join(root, 'sidecar'), VOUCH_KEY_PASSWORD: '' },
    });
    expect(r.code, r.stderr).to.equal(0);
    const digest = '05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5';
    const bundles = readdirSync(join(root, 'store', digest)).filter((f) => f.endsWith('.sigstore.json'));
    expect(bundles).to.have.length(1);
    const pr = JSON.parse(readFileSync(join(root, 'run', 'pipelinerun.json'), 'utf8')) as PipelineRun;
    expect(bundles[0]).to.include(pr.metadata.uid!);
  });

  it('steps cannot read the signing key given with --key nor the embedded log\'s key', async () => {
    // outside /tmp, which steps never see anyway: keys under /tmp would prove nothing
    const keysDir = mkdtempSync(join(REPO_ROOT, '.vouch-test-'));
    try {
      const keys = await runVouch(['keys', 'generate', '--out', join(keysDir, 'signer')], { env: { VOUCH_KEY_PASSWORD: '' } });
      expect(keys.code, keys.stderr).to.equal(0);
      const tlog = join(keysDir, 'tlog');
      const r = await runVouch(
        [...base('steal-keys.yaml'), '-p', `signing-key=${join(keysDir, 'signer.key')}`, '-p', `log-dir=${tlog}`, '--store', join(root, 'store'), '--log-data', tlog, '--key', join(keysDir, 'signer.key')],
        { env: { VOUCH_SIDECAR_DATA: join(root, 'sidecar'), VOUCH_KEY_PASSWORD: '' } },
      );
      expect(r.code, r.stderr).to.equal(0);
      expect(readFileSync(join(tlog, 'log.key'), 'utf8')).to.include('PRIVATE KEY'); // it was there to steal
      const log = readFileSync(join(root, 'run', 'logs', 'steal', 'steal.log'), 'utf8');
      expect(log).to.include('looked');
      expect(log).not.to.include('LEAKED');
    } finally {
      rmSync(keysDir, { recursive: true, force: true });
    }
  });

  it('--log-data or --key without --store is a usage error', async () => {
    const r = await runVouch([...base('continue.yaml'), '--key', join(root, 'x.key')]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('--store');
  });

  it('stops before any step when bubblewrap is missing, naming the package and --no-sandbox', async () => {
    const r = await runVouch(base('continue.yaml'), { env: { PATH: join(root, 'empty-path') } });
    expect(r.code).to.equal(3);
    expect(r.stderr).to.include('bubblewrap').and.include('--no-sandbox').and.include('[SANDBOX_UNAVAILABLE]');
    expect(existsSync(join(root, 'run', 'logs'))).to.equal(false);
  });

  it('--no-sandbox runs, and says loudly what it gives up', async () => {
    const r = await runVouch([...base('continue.yaml'), '--no-sandbox'], { env: { PATH: join(root, 'empty-path') } });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.include('WARNING: --no-sandbox');
  });

  it('refuses an image it cannot honour with exit 2', async () => {
    const r = await runVouch(base('images.yaml'));
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('docker.io/library/alpine:3.20').and.include('--host-image').and.include('[STEP_IMAGE_REFUSED]');
  });

  it('Ctrl-C cancels: steps killed, the run marked Cancelled, exit 1', async () => {
    const child = spawn(process.execPath, [CLI, ...base('cancel.yaml')], { env: { ...process.env, VOUCH_LOG_FORMAT: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const log = join(root, 'run', 'logs', 'long', 'wait.log');
    while (!existsSync(log) || !readFileSync(log, 'utf8').includes('waiting')) await new Promise((res) => setTimeout(res, 20));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => {
      resolve(c);
    }));
    expect(code, stderr).to.equal(1);
    const pr = JSON.parse(readFileSync(join(root, 'run', 'pipelinerun.json'), 'utf8')) as PipelineRun;
    expect(pr.status!.conditions![0]).to.include({ status: 'False', reason: 'Cancelled' });
    const files = JSON.parse(readFileSync(join(root, 'run', 'taskruns', `${pr.metadata.name!}-long.json`), 'utf8')) as { status: { conditions: { reason: string }[] } };
    expect(files.status.conditions[0]!.reason).to.equal('TaskRunCancelled');
  });
});
