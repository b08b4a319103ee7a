import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { isVouchError } from '../../src/common/errors.ts';
import { bwrapArgs, DEFAULT_PATH, defaultHiddenPaths, preflightSandbox, runStepProcess, type StepProcessSpec } from '../../src/runner/sandbox.ts';
import { REPO_ROOT } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const SANDBOX = { enabled: true };

describe('runner sandbox (bubblewrap)', () => {
  let root = '';
  let ws = '';
  beforeEach(() => {
    root = tempDir('vouch-sandbox-');
    ws = join(root, 'ws');
    mkdirSync(ws);
  });
  afterEach(() => { rmSync(root, { recursive: true, force: true }); });

  function spec(script: string, extra: Partial<StepProcessSpec> = {}): StepProcessSpec {
    return {
      argv: ['/bin/sh', '-c', script],
      env: { PATH: DEFAULT_PATH, HOME: ws },
      workingDir: ws,
      writable: [ws],
      network: false,
      logFile: join(root, 'logs', 'step.log'),
      ...extra,
    };
  }

  it('preflight passes where bubblewrap works', () => {
    expect(() => { preflightSandbox(SANDBOX); }).not.to.throw();
  });

  it('explains a missing bubblewrap, naming the package and --no-sandbox', () => {
    try {
      preflightSandbox({ enabled: true, bwrap: join(root, 'no-such-bwrap') });
      expect.fail('preflight accepted a missing bwrap');
    } catch (err) {
      expect(isVouchError(err, 'SANDBOX_UNAVAILABLE')).to.equal(true);
      expect((err as Error).message).to.include('bubblewrap').and.include('--no-sandbox');
    }
  });

  it('keeps vouch itself (repository and Node) visible even when it lives under the masked /tmp, and hidden paths hidden', () => {
    // a checkout in /tmp (CI clones anywhere) must still be able to run `vouch task …` steps
    const hidden = join(REPO_ROOT, 'package.json');
    const args = bwrapArgs(spec('true'), [hidden]);
    const at = (flag: string, a: string, b: string): number => args.findIndex((x, i) => x === flag && args[i + 1] === a && args[i + 2] === b);
    const repo = REPO_ROOT.replace(/\/$/, '');
    const tmp = args.findIndex((x, i) => x === '--tmpfs' && args[i + 1] === '/tmp');
    const repoBind = at('--ro-bind', repo, repo);
    expect(tmp).to.be.greaterThan(-1);
    expect(repoBind, args.join(' ')).to.be.greaterThan(tmp);
    expect(at('--ro-bind', '/dev/null', hidden), 'a hidden file inside the repository is mounted over after it').to.be.greaterThan(repoBind);
  });

  it('captures stdout and stderr into the log and reports the exit code', async () => {
    const chunks: string[] = [];
    const out = await runStepProcess(spec('echo out; echo err >&2; exit 3', { onOutput: (c) => chunks.push(c) }), SANDBOX);
    expect(out.exitCode).to.equal(3);
    expect(out.timedOut).to.equal(false);
    const log = readFileSync(join(root, 'logs', 'step.log'), 'utf8');
    expect(log).to.include('out\n').and.include('err\n');
    expect(chunks.join('')).to.include('out');
  });

  it('lets a step write its workspace but nothing else, with a private /tmp', async () => {
    const outside = join(root, 'outside');
    mkdirSync(outside);
    const out = await runStepProcess(
      spec(`echo ok > ${ws}/a && echo private > /tmp/p && (echo bad > ${outside}/b) 2>/dev/null; echo "outside=$?"; touch /etc/vouch-test 2>/dev/null; echo "etc=$?"`),
      SANDBOX,
    );
    expect(out.exitCode).to.equal(0);
    expect(readFileSync(join(ws, 'a'), 'utf8')).to.equal('ok\n');
    expect(existsSync(join(outside, 'b'))).to.equal(false);
    expect(existsSync('/etc/vouch-test')).to.equal(false);
    const log = readFileSync(join(root, 'logs', 'step.log'), 'utf8');
    expect(log).to.match(/outside=[1-9]/).and.match(/etc=[1-9]/);
  });

  it('hides credential files and directories of the host from the step', async () => {
    // outside /tmp, which is private to the step anyway
    const home = mkdtempSync('/var/tmp/vouch-home-');
    try {
      mkdirSync(join(home, '.ssh'));
      writeFileSync(join(home, '.ssh', 'id_ed25519'), 'PRIVATE KEY');
      writeFileSync(join(home, 'signing.key'), 'SIGNING KEY');
      writeFileSync(join(home, 'visible'), 'ok');
      const hide = defaultHiddenPaths(home, [join(home, 'signing.key'), join(home, 'absent.key')]);
      expect(hide).to.include.members([join(home, '.ssh'), join(home, 'signing.key')]);
      expect(hide).not.to.include(join(home, 'absent.key'));
      if (existsSync('/etc/shadow')) expect(hide).to.include('/etc/shadow');
      const out = await runStepProcess(spec(`cat ${home}/.ssh/id_ed25519; cat ${home}/signing.key; cat /etc/shadow; cat ${home}/visible`), { ...SANDBOX, hide });
      const log = readFileSync(join(root, 'logs', 'step.log'), 'utf8');
      expect(log).not.to.include('PRIVATE KEY');
      expect(log).not.to.match(/^root:/m);
      expect(log).not.to.include('SIGNING KEY');
      expect(log).to.include('ok');
      expect(out.exitCode).to.equal(0);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('cannot connect to host unix sockets (docker.sock and the like live under /run)', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const path = join('/run', `vouch-test-${process.pid}.sock`);
    const sock = createServer((s) => {
      s.on('error', () => undefined);
      s.end('hello\n');
    });
    await new Promise<void>((resolve) => sock.listen(path, resolve));
    try {
      const script = `require('net').connect(${JSON.stringify(path)}).on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log('ERR '+e.code);process.exit(7)})`;
      for (const network of [false, true]) {
        const out = await runStepProcess({ ...spec(''), argv: [process.execPath, '-e', script], network }, SANDBOX);
        expect(readFileSync(join(root, 'logs', 'step.log'), 'utf8')).not.to.include('CONNECTED');
        expect(out.exitCode).to.equal(7);
      }
    } finally {
      await new Promise<void>((resolve) => sock.close(() => { resolve(); }));
    }
  });

  it('gives the step no capabilities, so it cannot mount over its read-only view', async () => {
    const out = await runStepProcess(spec('grep CapEff /proc/self/status; mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED; mount -o remount,rw / 2>/dev/null && echo REMOUNTED; true'), SANDBOX);
    expect(out.exitCode).to.equal(0);
    const log = readFileSync(join(root, 'logs', 'step.log'), 'utf8');
    expect(log).to.match(/CapEff:\s+0+\n/);
    expect(log).not.to.include('MOUNTED');
  });

  it('runs a step as its securityContext user, which can then nest its own bubblewrap (as root without capabilities it cannot)', async () => {
    const nested = "id -u; bwrap --unshare-all --ro-bind / / --dev /dev -- /bin/true && echo NESTED-OK || echo NESTED-REFUSED";
    expect((await runStepProcess(spec(nested, { runAs: { uid: 1000, gid: 1000 } }), SANDBOX)).exitCode).to.equal(0);
    expect(readFileSync(join(root, 'logs', 'step.log'), 'utf8')).to.equal('1000\nNESTED-OK\n');
    // the refusal is what a root-run vouch gives its steps (CI, containers); a normal user keeps its own uid
    if (process.getuid?.() !== 0) return;
    rmSync(join(root, 'logs'), { recursive: true });
    expect((await runStepProcess(spec(nested), SANDBOX)).exitCode).to.equal(0);
    expect(readFileSync(join(root, 'logs', 'step.log'), 'utf8')).to.match(/^0\n(.|\n)*NESTED-REFUSED\n$/);
  });

  it('does not pass the caller environment through', async () => {
    process.env['VOUCH_SANDBOX_MARKER'] = 'caller-secret';
    try {
      const out = await runStepProcess(spec('env', { env: { PATH: DEFAULT_PATH, HOME: ws, STEP_VAR: 'mine' } }), SANDBOX);
      expect(out.exitCode).to.equal(0);
      const log = readFileSync(join(root, 'logs', 'step.log'), 'utf8');
      expect(log).to.include('STEP_VAR=mine');
      expect(log).not.to.include('caller-secret');
      expect(log).not.to.include('VOUCH_SANDBOX_MARKER');
    } finally {
      delete process.env['VOUCH_SANDBOX_MARKER'];
    }
  });

  describe('network', () => {
    let server: Server;
    let port = 0;
    before(async () => {
      server = createServer((s) => {
        s.on('error', () => undefined);
        s.end('hello\n');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => { resolve(); })));

    const connect = (p: number) =>
      `require('net').connect(${p},'127.0.0.1').on('connect',()=>{console.log('CONNECTED');process.exit(0)}).on('error',e=>{console.log('ERR '+e.code);process.exit(7)})`;

    it('cannot reach a server on the host loopback by default', async () => {
      const out = await runStepProcess({ ...spec(''), argv: [process.execPath, '-e', connect(port)] }, SANDBOX);
      const log = readFileSync(join(root, 'logs', 'step.log'), 'utf8');
      expect(log).not.to.include('CONNECTED');
      expect(out.exitCode).to.equal(7);
    });

    it('reaches it when the step is allowed the network', async () => {
      const out = await runStepProcess({ ...spec(''), argv: [process.execPath, '-e', connect(port)], network: true }, SANDBOX);
      expect(readFileSync(join(root, 'logs', 'step.log'), 'utf8')).to.include('CONNECTED');
      expect(out.exitCode).to.equal(0);
    });
  });

  it('a timeout kills the whole process tree, background children included', async () => {
    // the background sleep keeps the output pipe open: if it survived, this would hang until mocha's timeout
    const out = await runStepProcess(spec('sleep 30 & sleep 30', { timeoutMs: 300, onOutput: () => undefined }), SANDBOX);
    expect(out.timedOut).to.equal(true);
    expect(out.exitCode).not.to.equal(0);
  });

  it('a killed step leaves nothing behind that could still write to its log', async () => {
    const out = await runStepProcess(spec('(sleep 1; echo LATE) & sleep 30', { timeoutMs: 300 }), SANDBOX);
    expect(out.timedOut).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(readFileSync(join(root, 'logs', 'step.log'), 'utf8')).not.to.include('LATE');
  });

  it('cancellation kills the step', async () => {
    const ac = new AbortController();
    const running = runStepProcess(spec('echo started; sleep 30', { signal: ac.signal, onOutput: () => { ac.abort(); } }), SANDBOX);
    const out = await running;
    expect(out.cancelled).to.equal(true);
    expect(out.exitCode).not.to.equal(0);
  });

  it('without the sandbox still gives the step only its own environment', async () => {
    process.env['VOUCH_SANDBOX_MARKER'] = 'caller-secret';
    try {
      const out = await runStepProcess(spec('env; sleep 30 & sleep 30', { timeoutMs: 300 }), { enabled: false });
      expect(out.timedOut).to.equal(true);
      expect(readFileSync(join(root, 'logs', 'step.log'), 'utf8')).not.to.include('caller-secret');
    } finally {
      delete process.env['VOUCH_SANDBOX_MARKER'];
    }
  });
});
