// The agent-run stage for real: the scripted agent and the fake `claude` (hack/agent/) run in bubblewrap with the
// egress proxy beside them; a local model API and a local TCP echo server stand in for the internet. Every failure
// mode of the issue is tried: timeout, writes outside the workspace, hosts not on the list, direct network, reading
// the credential, emitting a secret (the secrets stage then fails), no change, a failing agent, bad input.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, filesUnder, git, initRepo, requireTool, runTaskInProcess } from './helpers.ts';
import { EgressProxy, hostAllowed, parseHostRules, summarizeEgress } from '../../src/stages/agent-run/proxy.ts';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { redactSecrets, summarizeTranscript } from '../../src/stages/agent-run/transcript.ts';
import { AGENT_RUN_V01 } from '../../src/attest/predicates.ts';
import { agentCommand, CREDENTIAL_ENV } from '../../src/stages/agent-run/index.ts';

const SCRIPTED = join(REPO_ROOT, 'hack/agent/scripted-agent.ts');
const FAKE_CLAUDE_DIR = join(REPO_ROOT, 'hack/agent');
// made up for the tests (right shapes, no real accounts)
const CREDENTIAL = 'sk-ant-api03-vouchTESTcredential-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH-xyzAA';
const LEAKED_KEY = 'AKIAR5TW8QZ2MX7NP3LD';
const MATH = 'export const sum = (a: number, b: number): number => a + b;\n';

const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');

interface Predicate {
  runId: string;
  agent: { name: string; version: string | null; command: string[]; artifacts: { path: string; digest: { sha256: string } }[] };
  model: { requested: string | null; reported: string | null };
  prompt: { digest: { sha256: string }; version: string; source: string };
  sandbox: { runtime: string; proc: string; capabilities: string[]; mounts: { path: string; access: string }[]; env: string[]; network: { mode: string; allowedHosts: string[]; modelApi: string; credentialInjected: boolean } };
  egress: { attempts: number; allowed: number; refused: number; hosts: { host: string; port: number; kind: string; allowed: boolean; bytesIn: number }[]; log: { digest: { sha256: string } } };
  timing: { startedOn: string; finishedOn: string; durationMs: number };
  exit: { code: number; signal: string | null; timedOut: boolean; outputLimitExceeded: boolean };
  transcript: { format: string; digest: { sha256: string }; redactions: number; toolCalls: number | null; toolsByName: Record<string, number>; sessionId: string | null };
  patch: { digest: { sha256: string }; filesChanged: number };
  repository: { baseCommit: string; branch: string; commit: string | null };
  outcome: string;
}

interface AgentRun {
  code: number;
  stdout: string;
  stderr: string;
  results: Record<string, string>;
  reportDir: string;
  predicate: Predicate | undefined;
  transcript: string;
  egress: { host: string; port: number; kind: string; allowed: boolean; status?: number; bytesIn: number; bytesOut: number }[];
}

const RESULTS = ['run-id', 'patch-digest', 'transcript-digest', 'branch', 'commit', 'changed', 'tool-calls', 'AGENT_RUN_EVIDENCE'];

describe('stages/agent-run', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-agent-run-');
  // visible to the sandbox (which hides /tmp): where the credential file lives, so hiding it is really tested
  let visible = '';
  let credentialFile = '';
  let model: HttpServer;
  let modelPort = 0;
  const modelSaw: { apiKey: string | undefined; authorization: string | undefined; path: string | undefined }[] = [];
  let echo: TcpServer;
  let echoPort = 0;
  let echoConnections = 0;
  let n = 0;

  before(async () => {
    requireTool('git');
    requireTool('bwrap');
    visible = mkdtempSync('/var/tmp/vouch-agent-run-');
    credentialFile = join(visible, 'model-key');
    writeFileSync(credentialFile, CREDENTIAL + '\n');
    model = createHttpServer((req, res) => {
      modelSaw.push({ apiKey: req.headers['x-api-key'] as string | undefined, authorization: req.headers.authorization, path: req.url });
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'message', role: 'assistant', content: [{ type: 'text', text: 'pong from the model' }] }));
      });
    });
    echo = createTcpServer((s) => {
      echoConnections++;
      s.once('data', () => s.end('pong\n'));
    });
    await new Promise<void>((r) => model.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    modelPort = (model.address() as { port: number }).port;
    echoPort = (echo.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((r) => model.close(r));
    await new Promise((r) => echo.close(r));
    if (visible) rmSync(visible, { recursive: true, force: true });
  });

  function repo(files: Record<string, string> = { 'src/math.ts': MATH }): { dir: string; base: string } {
    const dir = initRepo(join(tmp(), `repo-${String(++n)}`));
    const base = commit(dir, files, 'base');
    return { dir, base };
  }

  async function agentRun(dir: string, params: Record<string, string>): Promise<AgentRun> {
    const resultDir = join(tmp(), `results-${String(++n)}`);
    mkdirSync(resultDir);
    const args = ['--source', dir, '--prompt-version', 'v1', '--branch', 'agent/change', '--model-url', `http://127.0.0.1:${String(modelPort)}`, '--credential-file', credentialFile];
    for (const [k, v] of Object.entries({ prompt: 'Add a greeting', ...params })) args.push(`--${k}`, v);
    for (const r of RESULTS) args.push('--result', `${r}=${join(resultDir, r)}`);
    const r = await runTaskInProcess('agent-run', args);
    const results: Record<string, string> = {};
    for (const name of RESULTS) if (existsSync(join(resultDir, name))) results[name] = readFileSync(join(resultDir, name), 'utf8');
    const reportDir = join(dir, '.vouch/reports/agent-run');
    const read = (f: string): string => (existsSync(join(reportDir, f)) ? readFileSync(join(reportDir, f), 'utf8') : '');
    const predicateText = read('predicate.json');
    return {
      ...r,
      results,
      reportDir,
      predicate: predicateText ? (JSON.parse(predicateText) as Predicate) : undefined,
      transcript: read('transcript.jsonl'),
      egress: read('egress.jsonl').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AgentRun['egress'][number]),
    };
  }

  const scripted = (...actions: string[]): string => ['node', SCRIPTED, ...actions].join(' ');

  it('runs the agent, commits its change on the branch with the trailers, and writes matching evidence, results and egress log', async () => {
    const { dir, base } = repo();
    const before = modelSaw.length;
    const r = await agentRun(dir, {
      agent: scripted('write:src/greeting.ts', `connect:127.0.0.1:${String(echoPort)}`, 'connect:evil.example:443', 'model'),
      'allowed-hosts': `127.0.0.1:${String(echoPort)}`,
      model: 'claude-test-model',
    });
    expect(r.code, r.stderr).to.equal(0);
    const head = git(dir, ['rev-parse', 'HEAD']).trim();
    expect(git(dir, ['symbolic-ref', 'HEAD']).trim()).to.equal('refs/heads/agent/change');
    expect(r.results['commit']).to.equal(head);
    expect(r.results['changed']).to.equal('true');
    expect(r.results['branch']).to.equal('agent/change');
    expect(r.results['tool-calls']).to.equal('4');
    expect(git(dir, ['rev-parse', 'HEAD^']).trim()).to.equal(base);
    expect(git(dir, ['show', '--format=', '--name-only', 'HEAD']).trim()).to.equal('src/greeting.ts');
    // the working tree and index are the commit: nothing left over but the reports
    expect(git(dir, ['status', '--porcelain', '--untracked-files=no']).trim()).to.equal('');
    // trailers, digests and the stored files agree
    const trailers = git(dir, ['log', '-1', '--format=%(trailers:only,unfold)']).trim().split('\n');
    expect(trailers).to.deep.equal([`Agent-Run: ${r.results['run-id'] ?? ''}`, `Agent-Transcript: ${r.results['transcript-digest'] ?? ''}`]);
    expect(r.results['transcript-digest']).to.equal(`sha256:${sha256(r.transcript)}`);
    const patch = readFileSync(join(r.reportDir, 'agent.patch'));
    expect(r.results['patch-digest']).to.equal(`sha256:${sha256(patch)}`);
    expect(patch.toString()).to.equal(git(dir, ['diff', '--binary', '--no-color', '--full-index', base, head, '--']));
    const evidence = JSON.parse(r.results['AGENT_RUN_EVIDENCE'] ?? '{}') as Record<string, string>;
    expect(Object.keys(evidence).sort()).to.deep.equal(['digest', 'predicateType', 'uri']);
    expect(evidence['predicateType']).to.equal(AGENT_RUN_V01);
    expect(evidence['uri']).to.equal(`file://${join(r.reportDir, 'predicate.json')}`);
    expect(evidence['digest']).to.equal(`sha256:${sha256(readFileSync(join(r.reportDir, 'predicate.json')))}`);
    const p = r.predicate!;
    expect(p.runId).to.equal(r.results['run-id']);
    expect(p.outcome).to.equal('committed');
    expect(p.agent.name).to.equal('scripted-agent');
    expect(p.agent.version).to.equal('0.1.0-scripted');
    expect(p.agent.artifacts.map((a) => a.digest.sha256)).to.include(sha256(readFileSync(SCRIPTED)));
    expect(p.model).to.deep.equal({ requested: 'claude-test-model', reported: 'claude-test-model' });
    expect(p.prompt).to.deep.equal({ digest: { sha256: sha256('Add a greeting') }, version: 'v1', source: 'param' });
    expect(p.sandbox.runtime).to.equal('bubblewrap');
    expect(p.sandbox.capabilities).to.deep.equal([]);
    expect(p.sandbox.mounts).to.deep.include({ path: dir, access: 'read-write' });
    expect(p.sandbox.mounts).to.deep.include({ path: join(dir, '.git'), access: 'read-only' });
    // the credential file is nowhere in the agent's view: an empty root with only what it needs
    expect(p.sandbox.mounts[0]).to.deep.equal({ path: '/', access: 'empty-tmpfs' });
    expect(p.sandbox.mounts.map((m) => m.path)).to.not.include(credentialFile);
    expect(p.sandbox.env).to.include.members(['PATH', 'HOME', 'HTTPS_PROXY', 'ANTHROPIC_BASE_URL']);
    expect(p.sandbox.network).to.include({ mode: 'egress-proxy', modelApi: `http://127.0.0.1:${String(modelPort)}`, credentialInjected: true });
    expect(p.sandbox.network.allowedHosts).to.deep.equal([`127.0.0.1:${String(echoPort)}`]);
    expect(p.exit).to.deep.equal({ code: 0, signal: null, timedOut: false, outputLimitExceeded: false });
    expect(p.transcript).to.include({ format: 'stream-json', toolCalls: 4, redactions: 0 });
    expect(p.transcript.toolsByName).to.deep.equal({ Write: 1, WebFetch: 2, Bash: 1 });
    expect(p.patch).to.deep.include({ digest: { sha256: sha256(patch) }, filesChanged: 1 });
    expect(p.repository).to.deep.equal({ baseCommit: base, branch: 'agent/change', commit: head });
    expect(Date.parse(p.timing.finishedOn)).to.be.at.least(Date.parse(p.timing.startedOn));
    // egress: the listed host was tunnelled (bytes both ways), the other refused, the model call carried the key
    expect(r.egress.map((e) => [e.kind, e.host, e.allowed])).to.deep.equal([
      ['connect', '127.0.0.1', true],
      ['connect', 'evil.example', false],
      ['model', '127.0.0.1', true],
    ]);
    expect(r.egress[0]!.bytesIn).to.be.greaterThan(0);
    expect(r.egress[1]!.status).to.equal(403);
    expect(p.egress).to.include({ attempts: 3, allowed: 2, refused: 1 });
    expect(p.egress.log.digest.sha256).to.equal(sha256(readFileSync(join(r.reportDir, 'egress.jsonl'))));
    expect(r.transcript).to.include('remote said: pong').and.include('proxy answered 403 to CONNECT evil.example:443').and.include('pong from the model');
    expect(modelSaw.slice(before)).to.deep.equal([{ apiKey: CREDENTIAL, authorization: undefined, path: '/v1/messages' }]);
  });

  it('a call to another endpoint of the model API is refused without the credential and logged in egress.jsonl', async () => {
    const { dir } = repo();
    const before = modelSaw.length;
    const r = await agentRun(dir, { agent: scripted('api:/v1/files', 'model') });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.transcript).to.include('model API answered 403').and.include('POST /v1/files is not a model call');
    expect(modelSaw.slice(before)).to.deep.equal([{ apiKey: CREDENTIAL, authorization: undefined, path: '/v1/messages' }]);
    expect(r.egress.map((e) => [e.kind, e.allowed, e.status])).to.deep.equal([['model', false, 403], ['model', true, 200]]);
    expect(r.predicate?.egress).to.include({ attempts: 2, allowed: 1, refused: 1 });
  });

  it('the agent cannot read the credential from its environment, the credential file or /proc, yet the model call carries it', async () => {
    const { dir } = repo();
    const before = modelSaw.length;
    process.env[CREDENTIAL_ENV] = CREDENTIAL;
    let r: AgentRun;
    try {
      // the credential in the stage's own environment ($VOUCH_AGENT_CREDENTIAL)
      r = await agentRun(dir, { agent: scripted('steal', 'model'), 'credential-file': '' });
    } finally {
      Reflect.deleteProperty(process.env, CREDENTIAL_ENV);
    }
    expect(r.code, r.stderr).to.equal(0);
    const stolen = readFileSync(join(dir, 'stolen.txt'), 'utf8');
    expect(stolen).to.include('env ANTHROPIC_API_KEY=vouch-egress-proxy-adds-the-key');
    expect(stolen).to.not.include(CREDENTIAL);
    expect(stolen).to.not.include('sk-ant-');
    expect(stolen).to.not.include(CREDENTIAL_ENV);
    expect(modelSaw.slice(before).map((s) => s.apiKey)).to.deep.equal([CREDENTIAL]);
    expect(r.predicate?.sandbox.network.credentialInjected).to.equal(true);
    for (const f of filesUnder(r.reportDir)) expect(readFileSync(f, 'utf8'), f).to.not.include(CREDENTIAL);
  });

  it('the credential file is covered in the sandbox when given as credential-file', async () => {
    const { dir } = repo();
    const r = await agentRun(dir, { agent: scripted(`steal:${credentialFile}`) });
    expect(r.code, r.stderr).to.equal(0);
    const stolen = readFileSync(join(dir, 'stolen.txt'), 'utf8');
    expect(stolen).to.match(new RegExp(`${credentialFile}: (ENOENT.*)?\n`));
    expect(stolen).to.not.include(CREDENTIAL);
  });

  it("the host's home, key files elsewhere and mounted secrets do not exist for the agent; its HOME is an empty tmpfs", async () => {
    const { dir } = repo();
    // a user's home as a developer machine has it, outside the deny-list of credential directories
    const home = join(visible, 'home');
    const planted: Record<string, string> = {
      '.config/gh/hosts.yml': 'github.com:\n  oauth_token: FAKE-GH-TOKEN-planted-by-the-test\n',
      '.config/vouch/reviewer.key': 'FAKE-REVIEWER-KEY-planted-by-the-test\n',
      'projects/notes.txt': 'FAKE-NOTES-planted-by-the-test\n',
    };
    for (const [f, text] of Object.entries(planted)) {
      mkdirSync(dirname(join(home, f)), { recursive: true });
      writeFileSync(join(home, f), text);
    }
    // a signing key beside the run, and what a pod's ServiceAccount token looks like
    const signingKey = join(visible, 'signing.key');
    writeFileSync(signingKey, 'FAKE-SIGNING-KEY-planted-by-the-test\n');
    // `vouch run --no-sandbox` in the user's own checkout: the embedded log's data in its .vouch, the configured
    // signing key inside the workspace
    mkdirSync(join(dir, '.vouch/tlog'), { recursive: true });
    writeFileSync(join(dir, '.vouch/tlog/log.key'), 'FAKE-LOG-KEY-planted-by-the-test\n');
    writeFileSync(join(dir, 'signing.key'), 'FAKE-WORKSPACE-SIGNING-KEY-planted-by-the-test\n');
    const configFile = join(visible, 'config.yaml');
    writeFileSync(configFile, `signing:\n  key: ${join(dir, 'signing.key')}\n`);
    const paths = [...Object.keys(planted).map((f) => join(home, f)), signingKey, '/var/run/secrets/kubernetes.io/serviceaccount/token', '/root/.bashrc', join(dir, '.vouch/tlog/log.key'), join(dir, 'signing.key')];
    const saved = { HOME: process.env['HOME'], VOUCH_CONFIG: process.env['VOUCH_CONFIG'] };
    process.env['HOME'] = home;
    process.env['VOUCH_CONFIG'] = configFile;
    let r: AgentRun;
    try {
      r = await agentRun(dir, { agent: scripted(`steal:${paths.join(',')}`, 'escape:/home/agent/state', 'model') });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
    }
    expect(r.code, r.stderr).to.equal(0);
    const stolen = readFileSync(join(dir, 'stolen.txt'), 'utf8');
    for (const p of paths) expect(stolen, p).to.match(new RegExp(`${p}: (ENOENT|EACCES|\\n)`));
    expect(stolen).to.not.include('planted-by-the-test');
    expect(stolen).to.include('env HOME=/home/agent');
    // the agent still works: its HOME is writable, node, the workspace and the proxy are there
    const results = r.transcript.split('\n').filter((l) => l.includes('tool_result')).map((l) => JSON.parse(l) as { message: { content: { is_error: boolean }[] } });
    expect(results.map((x) => x.message.content[0]!.is_error)).to.deep.equal([false, false, false]);
    expect(r.predicate?.sandbox.mounts).to.deep.include({ path: '/', access: 'empty-tmpfs' });
    expect(r.predicate?.sandbox.mounts).to.deep.include({ path: '/home/agent', access: 'private-tmpfs' });
    expect(r.predicate?.sandbox.mounts.map((m) => m.path)).to.not.include(home);
  });

  it('an agent that changes gitignored files (a test runner replaced, a new build output) fails the stage with the paths named; untouched ignored files are fine', async () => {
    const withIgnored = (): { dir: string; base: string } => {
      const r = repo({ 'src/math.ts': MATH, '.gitignore': 'node_modules/\ndist/\n' });
      mkdirSync(join(r.dir, 'node_modules/.bin'), { recursive: true });
      writeFileSync(join(r.dir, 'node_modules/.bin/mocha'), '#!/bin/sh\nexec node ../mocha/bin/mocha.js "$@"\n');
      writeFileSync(join(r.dir, 'node_modules/.bin/tsc'), '#!/bin/sh\n');
      return r;
    };
    const { dir, base } = withIgnored();
    const r = await agentRun(dir, { agent: scripted('write:src/greeting.ts', 'write:node_modules/.bin/mocha=true', 'write:dist/out.js') });
    expect(r.code).to.equal(1);
    expect(r.predicate?.outcome).to.equal('ignored-files-changed');
    const p = r.predicate as unknown as { ignoredChanges: { count: number; paths: { path: string; change: string }[] } };
    expect(p.ignoredChanges).to.deep.equal({ count: 2, paths: [{ path: 'dist/out.js', change: 'added' }, { path: 'node_modules/.bin/mocha', change: 'modified' }] });
    expect(r.stdout).to.include('the agent changed 2 gitignored path(s)').and.include('node_modules/.bin/mocha (modified)').and.include('dist/out.js (added)');
    const report = JSON.parse(readFileSync(join(r.reportDir, 'report.json'), 'utf8')) as { ignoredChanges: unknown[] };
    expect(report.ignoredChanges).to.have.length(2);
    expect(r.results['commit']).to.equal('');
    expect(r.results['changed']).to.equal('false');
    expect(git(dir, ['rev-parse', 'HEAD']).trim()).to.equal(base);
    expect(git(dir, ['branch', '--list', 'agent/change']).trim()).to.equal('');
    // the same change with the ignored files left alone is committed
    const clean = withIgnored();
    const ok = await agentRun(clean.dir, { agent: scripted('write:src/greeting.ts') });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.predicate?.outcome).to.equal('committed');
    expect((ok.predicate as unknown as { ignoredChanges: unknown }).ignoredChanges).to.deep.equal({ count: 0, paths: [] });
  });

  it('a timed-out agent is killed; its partial transcript is kept, nothing is committed and the gate fails', async () => {
    const { dir, base } = repo();
    const r = await agentRun(dir, { agent: scripted('write:src/half.ts', 'hang'), 'timeout-seconds': '2' });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('did not finish within 2s and was killed');
    expect(r.predicate?.outcome).to.equal('timed-out');
    expect(r.predicate?.exit).to.include({ timedOut: true });
    expect(r.results['commit']).to.equal('');
    expect(r.results['changed']).to.equal('false');
    expect(git(dir, ['rev-parse', 'HEAD']).trim()).to.equal(base);
    expect(git(dir, ['branch', '--list', 'agent/change']).trim()).to.equal('');
    // partial: the init event and the write, but no result event
    const types = r.transcript.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types[0]).to.equal('system');
    expect(types).to.not.include('result');
    expect(r.transcript).to.include('Thinking for a long time');
    expect(r.predicate?.patch.filesChanged).to.equal(1);
  });

  it('writes outside the workspace, into .git and into the reports are denied', async () => {
    const { dir } = repo();
    const outside = join(visible, 'outside.txt');
    const r = await agentRun(dir, { agent: scripted(`escape:${outside}`, `escape:${join(dir, '.git/hooks/post-checkout')}`, `escape:${join(dir, '.vouch/x')}`, 'write:ok.txt') });
    expect(r.code, r.stderr).to.equal(0);
    expect(existsSync(outside)).to.equal(false);
    expect(existsSync(join(dir, '.git/hooks/post-checkout'))).to.equal(false);
    const results = r.transcript.split('\n').filter((l) => l.includes('tool_result')).map((l) => JSON.parse(l) as { message: { content: { is_error: boolean; content: string }[] } });
    expect(results.map((x) => x.message.content[0]!.is_error)).to.deep.equal([true, true, true, false]);
    // outside the workspace the host path does not even exist; .git and .vouch are read-only
    expect(results[0]!.message.content[0]!.content).to.match(/ENOENT/);
    for (const x of results.slice(1, 3)) expect(x.message.content[0]!.content).to.match(/EROFS|read-only/);
    expect(git(dir, ['show', '--format=', '--name-only', 'HEAD']).trim()).to.equal('ok.txt');
  });

  it('network outside the proxy is impossible and hosts off the list are refused and logged', async () => {
    const { dir } = repo();
    const seen = echoConnections;
    const r = await agentRun(dir, { agent: scripted(`direct:127.0.0.1:${String(echoPort)}`, `connect:127.0.0.1:${String(echoPort)}`, 'connect:github.com:443', 'write:x.txt') });
    expect(r.code, r.stderr).to.equal(0);
    expect(echoConnections).to.equal(seen);
    expect(r.transcript).to.include(`direct connection to 127.0.0.1:${String(echoPort)} failed`);
    expect(r.egress.map((e) => [e.host, e.port, e.allowed, e.status])).to.deep.equal([
      ['127.0.0.1', echoPort, false, 403],
      ['github.com', 443, false, 403],
    ]);
    expect(r.stdout).to.include('2 network attempt(s) refused by the egress proxy');
    expect(r.predicate?.egress).to.include({ refused: 2, allowed: 0 });
  });

  it('a secret the agent emits is redacted before the transcript is stored, and the secrets stage then fails on the transcript', async () => {
    // the agent reads a key from a file of the repository and repeats it
    const { dir, base } = repo({ 'src/math.ts': MATH, 'deploy/aws.txt': `${LEAKED_KEY}\n` });
    const r = await agentRun(dir, { agent: scripted('say-file:deploy/aws.txt', 'write:src/greeting.ts') });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.transcript).to.include('[REDACTED:vouch/aws-access-key-id]');
    for (const f of filesUnder(r.reportDir)) expect(readFileSync(f, 'utf8'), f).to.not.include(LEAKED_KEY);
    expect(r.stderr).to.not.include(LEAKED_KEY);
    expect(r.predicate?.transcript.redactions).to.equal(2);
    expect(r.results['transcript-digest']).to.equal(`sha256:${sha256(r.transcript)}`);
    const s = await runTaskInProcess('secrets', ['--source', dir, '--base-revision', base, '--head-revision', 'HEAD', '--transcript', '.vouch/reports/agent-run/transcript.jsonl']);
    expect(s.code).to.equal(1);
    expect(s.stdout).to.include('vouch/agent-run-redacted').and.include('.vouch/reports/agent-run/transcript.jsonl');
  });

  it("the policy's own secret patterns redact too", async () => {
    const token = 'itk_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
    const policy = ['version: 1', 'secrets:', '  patterns:', '    - id: internal-token', '      regex: "itk_[0-9a-f]{32}"', ''].join('\n');
    const { dir } = repo({ '.vouch/policy.yaml': policy, 'notes.txt': `${token}\n` });
    const r = await agentRun(dir, { agent: scripted('say-file:notes.txt') });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.transcript).to.include('[REDACTED:policy/internal-token]').and.not.include(token);
  });

  it('no change: a clean result (changed=false, no commit, no branch) with the reason', async () => {
    const { dir, base } = repo();
    const r = await agentRun(dir, { agent: scripted('noop') });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('no change: the agent exited successfully without changing any file');
    expect(r.results).to.include({ changed: 'false', commit: '' });
    expect(r.predicate?.outcome).to.equal('no-change');
    expect(r.predicate?.repository.commit).to.equal(null);
    expect(r.predicate?.patch.digest.sha256).to.equal(sha256(''));
    expect(git(dir, ['rev-parse', 'HEAD']).trim()).to.equal(base);
    expect(git(dir, ['branch', '--list', 'agent/change']).trim()).to.equal('');
  });

  it('a failing agent fails the gate, its change is recorded as a patch but not committed', async () => {
    const { dir } = repo();
    const r = await agentRun(dir, { agent: scripted('write:a.txt', 'fail') });
    expect(r.code).to.equal(1);
    expect(r.stdout).to.include('the agent exited with code 3');
    expect(r.results['commit']).to.equal('');
    expect(r.predicate?.exit.code).to.equal(3);
    expect(r.predicate?.patch.filesChanged).to.equal(1);
  });

  it('an agent past max-output-bytes is stopped and its transcript cut there', async () => {
    const { dir } = repo();
    const r = await agentRun(dir, { agent: scripted(`leak:${'x'.repeat(3000)}`, 'hang'), 'max-output-bytes': '2048' });
    expect(r.code).to.equal(1);
    expect(r.predicate?.outcome).to.equal('output-limit');
    expect(r.predicate?.transcript).to.include({ format: 'stream-json', toolCalls: 0 });
    expect(Buffer.byteLength(r.transcript)).to.be.at.most(2048);
  });

  it('the claude-code preset runs `claude -p … --output-format stream-json --verbose` and reads its transcript (fake claude replaying a recording)', async () => {
    const { dir, base } = repo();
    const path = [FAKE_CLAUDE_DIR, dirname(process.execPath), '/usr/bin', '/bin'].join(':');
    const r = await agentRun(dir, { agent: 'claude-code', model: 'claude-sonnet-4-5-20250929', prompt: 'Add a subtract function next to sum', 'agent-env': `PATH=${path}` });
    expect(r.code, r.stderr).to.equal(0);
    const p = r.predicate!;
    expect(p.agent.name).to.equal('claude-code');
    expect(p.agent.version).to.equal('2.0.14');
    expect(p.agent.command).to.deep.equal(['claude', '-p', '<prompt>', '--output-format', 'stream-json', '--verbose', '--model', 'claude-sonnet-4-5-20250929', '--dangerously-skip-permissions']);
    expect(p.agent.artifacts[0]?.path).to.equal(join(FAKE_CLAUDE_DIR, 'claude'));
    expect(p.model.reported).to.equal('claude-sonnet-4-5-20250929');
    expect(p.transcript).to.include({ format: 'stream-json', toolCalls: 2, sessionId: '3f1c2a9e-7b4d-4e21-9c3a-5d8e6f7a1b2c' });
    expect(p.transcript.toolsByName).to.deep.equal({ Read: 1, Edit: 1 });
    expect(r.results['tool-calls']).to.equal('2');
    expect(r.transcript).to.equal(readFileSync(join(FAKE_CLAUDE_DIR, 'recordings/claude-code-add-subtract.jsonl'), 'utf8'));
    expect(git(dir, ['diff', base, 'HEAD', '--', 'src/math.ts'])).to.include('+export const subtract = (a: number, b: number): number => a - b;');
    expect(git(dir, ['log', '-1', '--format=%B'])).to.include('Agent: claude-code 2.0.14');
  });

  it('the fake claude is as strict as the real CLI about the flags the preset relies on', () => {
    const r = spawnSync(join(FAKE_CLAUDE_DIR, 'claude'), ['-p', 'x', '--output-format', 'stream-json'], { encoding: 'utf8', env: { PATH: `${dirname(process.execPath)}:/usr/bin:/bin` } });
    expect(r.status).to.equal(1);
    expect(r.stderr).to.include('--output-format=stream-json requires --verbose');
    expect(r.stdout).to.equal('');
  });

  it('bad input is refused before the agent runs and nothing is written', async () => {
    const { dir } = repo();
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ branch: 'bad..name' }, 'STAGE_USAGE', /--branch "bad\.\.name" is not a valid branch name/],
      [{ 'prompt-file': 'p.txt' }, 'STAGE_USAGE', /exactly one of --prompt and --prompt-file/],
      [{ prompt: '', 'prompt-file': 'missing.txt' }, 'STAGE_INPUT_INVALID', /--prompt-file missing\.txt cannot be read/],
      [{ 'credential-file': join(visible, 'nope') }, 'STAGE_INPUT_INVALID', /--credential-file .*nope cannot be read/],
      [{ 'allowed-hosts': 'https://x.example/' }, 'STAGE_USAGE', /allowed host "https:\/\/x\.example\/" is not host or host:port/],
      [{ 'timeout-seconds': '0' }, 'STAGE_USAGE', /--timeout-seconds: expected a whole number >= 1/],
      [{ agent: '["node", 3]' }, 'STAGE_USAGE', /not a JSON array of strings/],
      [{ 'agent-env': 'not an assignment' }, 'STAGE_USAGE', /is not NAME=VALUE/],
      [{ agent: 'claude-code', 'agent-env': 'PATH=/usr/bin:/bin' }, 'STAGE_INPUT_INVALID', /the agent command "claude" is not on the agent's PATH/],
    ];
    for (const [params, code, message] of cases) {
      const r = await agentRun(dir, { agent: scripted('write:x.txt'), ...params });
      expect(r.code, JSON.stringify(params)).to.not.equal(0);
      expect(r.stderr, JSON.stringify(params)).to.include(`[${code}]`).and.match(message);
      expect(existsSync(r.reportDir), JSON.stringify(params)).to.equal(false);
      expect(existsSync(join(dir, 'x.txt'))).to.equal(false);
    }
  });
});

describe('stages/agent-run: proxy rules, redaction and transcript parsing', () => {
  it('allow-list entries: host:port, a bare host (443 for CONNECT, 80 for HTTP), *.domain', () => {
    const rules = parseHostRules('api.anthropic.com, registry.npmjs.org:8443\n*.githubusercontent.com');
    expect(hostAllowed(rules, 'api.anthropic.com', 443, 443)).to.equal(true);
    expect(hostAllowed(rules, 'API.Anthropic.com', 443, 443)).to.equal(true);
    expect(hostAllowed(rules, 'api.anthropic.com', 22, 443)).to.equal(false);
    expect(hostAllowed(rules, 'registry.npmjs.org', 443, 443)).to.equal(false);
    expect(hostAllowed(rules, 'registry.npmjs.org', 8443, 443)).to.equal(true);
    expect(hostAllowed(rules, 'raw.githubusercontent.com', 443, 443)).to.equal(true);
    expect(hostAllowed(rules, 'githubusercontent.com.evil.example', 443, 443)).to.equal(false);
    expect(hostAllowed(rules, 'anthropic.com', 443, 443)).to.equal(false);
    expect(() => parseHostRules('host:99999')).to.throw(/not host or host:port/);
    expect(parseHostRules('')).to.deep.equal([]);
  });

  it('egress summary counts per host and kind', () => {
    const s = summarizeEgress([
      { time: 't', kind: 'connect', host: 'a', port: 443, allowed: true, bytesOut: 5, bytesIn: 7 },
      { time: 't', kind: 'connect', host: 'a', port: 443, allowed: true, bytesOut: 1, bytesIn: 1 },
      { time: 't', kind: 'connect', host: 'b', port: 443, allowed: false, bytesOut: 0, bytesIn: 0 },
    ]);
    expect(s).to.deep.include({ attempts: 3, allowed: 2, refused: 1, bytesOut: 6, bytesIn: 8 });
    expect(s.hosts).to.have.length(2);
    expect(s.hosts[0]).to.include({ host: 'a', attempts: 2, bytesIn: 8 });
  });

  it('redacts secretlint findings, vouch rules, whole private key blocks and known values; JSON lines stay valid', async () => {
    const pem = '-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----';
    const line = JSON.stringify({ type: 'assistant', text: `key ${LEAKED_KEY} and ${pem.replace(/\\n/g, '\n')} and ${CREDENTIAL} and 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` });
    const r = await redactSecrets(`${line}\n`, [{ rule: 'vouch/model-credential', value: CREDENTIAL }]);
    expect(r.text).to.not.include(LEAKED_KEY).and.not.include('MIIEvQ').and.not.include(CREDENTIAL).and.not.include('ghp_wWPw');
    expect(() => JSON.parse(r.text.trim()) as unknown).to.not.throw();
    expect(r.redactions.map((x) => x.rule)).to.include.members(['vouch/aws-access-key-id', 'vouch/private-key-block', 'vouch/model-credential']);
    expect(r.redactions.every((x) => x.line === 1)).to.equal(true);
    expect(await redactSecrets('nothing secret here\n', [])).to.deep.equal({ text: 'nothing secret here\n', redactions: [] });
  });

  it('a transcript that is not stream-json is text with no tool count', () => {
    expect(summarizeTranscript('hello\n{"type":"x"}\n')).to.deep.include({ format: 'text', toolCalls: null });
    expect(summarizeTranscript('')).to.deep.include({ format: 'text', toolCalls: null });
    // a transcript cut mid-event (output limit) is still stream-json; the cut event does not count
    expect(summarizeTranscript('{"type":"system","subtype":"init","claude_code_version":"2.0.14"}\n{"type":"assistant","message":{"content":[{"type":"tool_u')).to.deep.include({ format: 'stream-json', toolCalls: 0, agentVersion: '2.0.14' });
    expect(summarizeTranscript('{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash"},{"type":"text"}]}}\n')).to.deep.include({ format: 'stream-json', toolCalls: 1 });
  });

  it('agent commands: the claude-code preset, words, a JSON array; the script names the agent', () => {
    expect(agentCommand('claude-code', 'do it', '').argv).to.deep.equal(['claude', '-p', 'do it', '--output-format', 'stream-json', '--verbose', '--dangerously-skip-permissions']);
    expect(agentCommand('node hack/agent/scripted-agent.ts noop', 'p', '')).to.deep.include({ name: 'scripted-agent', argv: ['node', 'hack/agent/scripted-agent.ts', 'noop'], streamJson: false });
    expect(agentCommand('["my agent", "--x"]', 'p', '')).to.deep.include({ name: 'my agent', argv: ['my agent', '--x'] });
    expect(() => agentCommand('   ', 'p', '')).to.throw(/empty command/);
  });
});

describe('stages/agent-run: the egress proxy on its unix socket', () => {
  const tmp = tempDirPerSuite('vouch-egress-');
  let upstream: HttpServer;
  let port = 0;
  const seen: { url: string | undefined; headers: IncomingHttpHeaders }[] = [];

  before(async () => {
    upstream = createHttpServer((req, res) => {
      seen.push({ url: req.url, headers: req.headers });
      res.end('upstream says hi');
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    port = (upstream.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((r) => upstream.close(r));
  });

  function send(socketPath: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ socketPath, path, method, headers }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('model calls: the credential the agent sent is dropped and the held one added (x-api-key or Bearer)', async () => {
    for (const [header, expected] of [['x-api-key', CREDENTIAL], ['authorization', `Bearer ${CREDENTIAL}`]] as const) {
      const socketPath = join(tmp(), `${header}.sock`);
      const proxy = new EgressProxy({ socketPath, allow: [], model: { url: new URL(`http://127.0.0.1:${String(port)}`), header, credential: CREDENTIAL } });
      await proxy.listen();
      try {
        seen.length = 0;
        const r = await send(socketPath, '/v1/messages?beta=true', { 'x-api-key': 'agent-chosen', authorization: 'Bearer agent-chosen', 'anthropic-version': '2023-06-01' }, 'POST');
        expect(r).to.deep.equal({ status: 200, body: 'upstream says hi' });
        expect(seen[0]?.url).to.equal('/v1/messages?beta=true');
        expect(seen[0]?.headers[header]).to.equal(expected);
        expect(JSON.stringify(seen[0]?.headers)).to.not.include('agent-chosen');
        expect(seen[0]?.headers['anthropic-version']).to.equal('2023-06-01');
        expect(proxy.entries[0]).to.include({ kind: 'model', host: '127.0.0.1', port, allowed: true, status: 200, bytesIn: 16 });
        // count_tokens is the other call Claude Code makes
        expect((await send(socketPath, '/v1/messages/count_tokens?beta=true', {}, 'POST')).status).to.equal(200);
        expect(seen[1]?.headers[header]).to.equal(expected);
      } finally {
        await proxy.close();
      }
    }
  });

  it('the credential goes only with POST /v1/messages and /v1/messages/count_tokens: other methods and paths of the model API are refused and logged', async () => {
    const socketPath = join(tmp(), 'paths.sock');
    const proxy = new EgressProxy({ socketPath, allow: [], model: { url: new URL(`http://127.0.0.1:${String(port)}`), header: 'x-api-key', credential: CREDENTIAL } });
    await proxy.listen();
    try {
      seen.length = 0;
      const refused: [string, string][] = [
        ['GET', '/v1/files'],
        ['POST', '/v1/files'],
        ['POST', '/v1/messages/batches'],
        ['GET', '/v1/messages'],
        ['POST', '/v1/messages/../files'],
        ['POST', '/v1/messages/%2e%2e/files'],
        ['POST', '/v1/messages/'],
        ['POST', '//evil.example/v1/messages'],
      ];
      for (const [method, path] of refused) {
        const r = await send(socketPath, path, { 'x-api-key': 'agent-chosen' }, method);
        expect(r.status, `${method} ${path}`).to.equal(403);
        expect(r.body).to.include('is not a model call');
      }
      // nothing reached the API, so the credential was never sent
      expect(seen).to.deep.equal([]);
      expect(proxy.entries.map((e) => [e.kind, e.allowed, e.status])).to.deep.equal(refused.map(() => ['model', false, 403]));
      expect(proxy.entries[0]).to.include({ host: '127.0.0.1', port, reason: 'GET /v1/files is not a model call (only POST /v1/messages, POST /v1/messages/count_tokens)' });
    } finally {
      await proxy.close();
    }
  });

  it('plain HTTP by absolute URL only to listed hosts, never with the credential; https URLs and junk are refused', async () => {
    const socketPath = join(tmp(), 'http.sock');
    const proxy = new EgressProxy({ socketPath, allow: parseHostRules(`127.0.0.1:${String(port)}`), model: { url: new URL('https://api.anthropic.com'), header: 'x-api-key', credential: CREDENTIAL } });
    await proxy.listen();
    try {
      seen.length = 0;
      expect(await send(socketPath, `http://127.0.0.1:${String(port)}/ok`)).to.deep.equal({ status: 200, body: 'upstream says hi' });
      expect(seen[0]?.headers['x-api-key']).to.equal(undefined);
      expect((await send(socketPath, 'http://evil.example/x')).status).to.equal(403);
      expect((await send(socketPath, `https://127.0.0.1:${String(port)}/`)).status).to.equal(403);
      expect(proxy.entries.map((e) => [e.kind, e.host, e.allowed, e.status])).to.deep.equal([
        ['http', '127.0.0.1', true, 200],
        ['http', 'evil.example', false, 403],
        ['http', '127.0.0.1', false, 403],
      ]);
      expect(proxy.entries[2]?.reason).to.equal('https: is not proxied (use CONNECT)');
    } finally {
      await proxy.close();
    }
  });
});
