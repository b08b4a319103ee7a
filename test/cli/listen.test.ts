// `vouch listen`: real GitHub pull_request deliveries (../shared/fixtures/github/), signed with a test secret, posted
// over HTTP to the listener built from pipelines/triggers/; a good one starts a local run through the same code
// path as `vouch run` (here against a stand-in agent-pr-verify Pipeline that records its params), bad or missing
// signatures are refused with 401/403 and start nothing, other event types and actions are ignored.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/common/config.ts';
import { envSecret, localRuns, type LocalRuns } from '../../src/cli/listen.ts';
import { startListener, type RunningListener } from '../../src/runner/listener.ts';
import { loadTriggersDir, signPayload } from '../../src/tekton/triggers.ts';
import { REPO_ROOT, SHARED, runVouch, startVouchServer, stopProcess } from '../helpers/cli.ts';
import { requireTool } from '../stages/helpers.ts';
import { rejectsWith } from '../helpers/errors.ts';

const SECRET = 'listen-test-secret';
const FIXTURE_PIPELINES = fileURLToPath(new URL('./fixtures/listen-pipelines/', import.meta.url));

interface Reply {
  status: number;
  body: { pipelineRuns?: string[]; ignored?: string[]; message?: string };
}

async function post(url: string, file: string, options: { event?: string; signature?: string | null; secret?: string; body?: Buffer } = {}): Promise<Reply> {
  const body = options.body ?? readFileSync(join(SHARED, 'fixtures/github', file));
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': options.event ?? 'pull_request', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958' };
  if (options.signature !== null) headers['x-hub-signature-256'] = options.signature ?? signPayload(body, options.secret ?? SECRET);
  const res = await fetch(url, { method: 'POST', headers, body });
  return { status: res.status, body: (await res.json()) as Reply['body'] };
}

describe('vouch listen (GitHub webhook replay)', function () {
  this.timeout(120_000);
  let root = '';
  let runs: LocalRuns;
  let listener: RunningListener;

  before(async () => {
    requireTool('bwrap');
    // the sandbox hides /tmp: run directories and workspaces live where steps can see them
    root = mkdtempSync('/var/tmp/vouch-listen-');
    const config = loadConfig({ env: { VOUCH_LISTEN_SECRET_ENV: 'TEST_WEBHOOK_SECRET' } });
    const osv = mkdtempSync(join(root, 'osv-'));
    runs = localRuns({
      tasksDir: join(REPO_ROOT, 'tasks'),
      pipelinesDir: FIXTURE_PIPELINES,
      workspaces: [`osv-database=${osv}`],
      runsDir: join(root, 'runs'),
      config,
      execute: { hostImage: ['docker.io/library/busybox*'], allowNetwork: [], sandbox: true, json: true },
    });
    listener = await startListener('127.0.0.1', 0, {
      triggers: await loadTriggersDir(join(REPO_ROOT, 'pipelines/triggers')),
      listener: 'vouch-github',
      secrets: envSecret(config, { TEST_WEBHOOK_SECRET: SECRET }),
      start: (r, id) => runs.start(r, id),
    });
  });
  after(async () => {
    await listener.close();
    await runs.idle();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const runDirs = (): string[] => (existsSync(join(root, 'runs')) ? readdirSync(join(root, 'runs')) : []);

  it('a missing signature is 401, a wrong one 403, and neither starts anything', async () => {
    expect((await post(listener.url, 'pull_request.opened.json', { signature: null })).status).to.equal(401);
    expect((await post(listener.url, 'pull_request.opened.json', { secret: 'wrong' })).status).to.equal(403);
    expect((await post(listener.url, 'pull_request.opened.json', { signature: 'sha256=' + '0'.repeat(64) })).status).to.equal(403);
    await runs.idle();
    expect(runs.finished.size).to.equal(0);
    expect(runDirs()).to.deep.equal([]);
  });

  it('a signed ping, a closed pull request and a non-JSON body start nothing (200, 200, 400)', async () => {
    const ping = await post(listener.url, 'ping.json', { event: 'ping' });
    expect(ping.status).to.equal(200);
    expect(ping.body.ignored?.join()).to.include('event type "ping" is not allowed');
    const closed = await post(listener.url, 'pull_request.closed.json');
    expect(closed.status).to.equal(200);
    expect(closed.body.ignored?.join()).to.include('CEL filter');
    expect((await post(listener.url, '', { body: Buffer.from('{"action":') })).status).to.equal(400);
    await runs.idle();
    expect(runDirs()).to.deep.equal([]);
  });

  it('a signed pull_request opened starts a run whose params are the payload\'s', async () => {
    const reply = await post(listener.url, 'pull_request.opened.json');
    expect(reply.status, JSON.stringify(reply.body)).to.equal(202);
    const [name] = reply.body.pipelineRuns ?? [];
    expect(name).to.match(/^agent-pr-verify-/);
    await runs.idle();
    const done = runs.finished.get(name!);
    expect(done?.succeeded).to.equal(true);
    const pr = JSON.parse(readFileSync(join(done!.runDir, 'pipelinerun.json'), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { results: { name: string; value: string }[] } };
    const payload = JSON.parse(readFileSync(join(SHARED, 'fixtures/github/pull_request.opened.json'), 'utf8')) as { number: number; repository: { clone_url: string }; pull_request: { base: { sha: string }; head: { sha: string }; user: { login: string } } };
    // the last word: the pull request's author as a forge account, who will not be able to approve the change
    expect(pr.status.results).to.deep.equal([{ name: 'seen', value: `${payload.repository.clone_url} ${payload.pull_request.base.sha} ${payload.pull_request.head.sha} ${String(payload.number)} github:${payload.pull_request.user.login}` }]);
    expect(pr.metadata.labels['vouch.dev/pull-request']).to.equal(String(payload.number));
  });

  it('a delivery whose PipelineRun cannot be planned is 422 and starts nothing; oversized bodies 413; GET /live 200', async () => {
    const config = loadConfig({ env: {} });
    const empty = mkdtempSync(join(root, 'no-pipelines-'));
    const other = localRuns({ tasksDir: join(REPO_ROOT, 'tasks'), pipelinesDir: empty, workspaces: [], runsDir: join(root, 'runs-422'), config, execute: { hostImage: [], allowNetwork: [], sandbox: true } });
    const l = await startListener('127.0.0.1', 0, { triggers: await loadTriggersDir(join(REPO_ROOT, 'pipelines/triggers')), listener: 'vouch-github', secrets: () => SECRET, start: (r, id) => other.start(r, id), maxBodyBytes: 64 * 1024 });
    try {
      const r = await post(l.url, 'pull_request.reopened.json');
      expect(r.status).to.equal(422);
      expect(r.body.message).to.include('agent-pr-verify');
      expect((await post(l.url, '', { body: Buffer.alloc(65 * 1024, 0x20) })).status).to.equal(413);
      expect((await fetch(`${l.url}/live`)).status).to.equal(200);
      expect((await fetch(l.url)).status).to.equal(405);
      await other.idle();
      expect(other.finished.size).to.equal(0);
      expect(existsSync(join(root, 'runs-422'))).to.equal(false);
    } finally {
      await l.close();
    }
  });

  it('refuses to serve an EventListener with a trigger that does not authenticate first', async () => {
    const triggers = await loadTriggersDir(join(REPO_ROOT, 'pipelines/triggers'));
    const trigger = triggers.listeners.get('vouch-github')!.spec.triggers![0]!;
    trigger.interceptors = trigger.interceptors!.slice(1);
    await rejectsWith(startListener('127.0.0.1', 0, { triggers, listener: 'vouch-github', secrets: () => SECRET, start: () => Promise.reject(new Error('never')) }), 'CONFIG_INVALID', /github interceptor with a secretRef/);
  });

  it('the command refuses to start without the webhook secret (no unsigned mode)', async () => {
    const r = await runVouch(['listen', '--address', '127.0.0.1:0'], { env: { VOUCH_WEBHOOK_SECRET: '' } });
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('VOUCH_WEBHOOK_SECRET').and.include('[CONFIG_INVALID]');
    expect(r.stderr).to.not.include(SECRET);
  });

  it('end to end as a user starts it: `vouch listen` serves, a signed delivery runs, SIGTERM stops it cleanly', async () => {
    const cwd = mkdtempSync(join(root, 'cli-'));
    const osv = mkdtempSync(join(root, 'osv-cli-'));
    const args = ['listen', '--address', '127.0.0.1:0', '--pipelines', FIXTURE_PIPELINES, '--host-image', 'docker.io/library/busybox*', '-w', `osv-database=${osv}`];
    const { url, proc } = await startVouchServer(args, { cwd, env: { VOUCH_WEBHOOK_SECRET: SECRET }, stderr: 'ignore' });
    try {
      expect((await post(url, 'pull_request.synchronize.json', { secret: 'wrong' })).status).to.equal(403);
      const reply = await post(url, 'pull_request.synchronize.json');
      expect(reply.status, JSON.stringify(reply.body)).to.equal(202);
      const file = join(cwd, '.vouch/runs', reply.body.pipelineRuns![0]!, 'pipelinerun.json');
      // wait for the run to finish (the test's timeout bounds it)
      let pr: { status?: { completionTime?: string; conditions?: { reason: string }[] } } = {};
      while (pr.status?.completionTime === undefined) {
        await new Promise((r) => setTimeout(r, 200));
        if (existsSync(file)) pr = JSON.parse(readFileSync(file, 'utf8')) as typeof pr;
      }
      expect(pr.status?.conditions?.[0]?.reason).to.equal('Succeeded');
      // the refused delivery left nothing: one run directory only
      expect(readdirSync(join(cwd, '.vouch/runs'))).to.have.length(1);
    } finally {
      expect(await stopProcess(proc, 'SIGTERM')).to.equal(0);
    }
  });
});
