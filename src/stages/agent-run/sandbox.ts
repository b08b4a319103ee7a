// The agent's sandbox: bubblewrap with every namespace unshared (no network: only a loopback, where launcher.ts
// relays to the egress proxy's unix socket), no capabilities, a read-only view of the host, a private /tmp, and write
// access to the source workspace (its .git and .vouch stay read-only: git config and hooks would run code in the
// stage, reports belong to the stages) and a scratch directory only. The environment is exactly what the stage
// declares. Credential files are covered. This duplicates the few bwrap arguments of src/runner/sandbox.ts that it
// needs, because stages may not import the runner (DESIGN.md §2).
//
// Nested under `vouch run` the outer step sandbox is a user namespace where uid 0 has no capabilities: the kernel then
// refuses a nested user namespace that maps uid 0 (CAP_SETFCAP rule, Linux >= 5.12) and refuses a new procfs
// (the outer /proc is partly covered). probeSandbox() finds what works: a private /proc, no /proc at all (the agent
// still gets its own pid namespace; without /proc it cannot see the stage's processes either), or nothing, which is
// an error (docs/agent-run.md).
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, lstatSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError } from '../../common/errors.ts';

/** Where the egress proxy's socket directory appears inside the sandbox. */
export const EGRESS_DIR_IN_SANDBOX = '/run/vouch-egress';

export type ProcMode = 'private' | 'none';

export interface AgentSandboxSpec {
  argv: string[];
  env: Record<string, string>;
  /** the source workspace: writable, except the paths in readOnly */
  workspace: string;
  /** paths under the workspace bound read-only over the writable workspace (.git, .vouch) */
  readOnly: string[];
  /** the scratch directory (HOME and TMPDIR of the agent): writable */
  scratch: string;
  /** host directory holding the proxy's socket: visible read-only at EGRESS_DIR_IN_SANDBOX */
  egressDir: string;
  /** files and directories to cover (credentials) */
  hide: string[];
  proc: ProcMode;
}

function baseArgs(proc: ProcMode): string[] {
  const args = [
    '--unshare-all',
    '--cap-drop', 'ALL',
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    '--ro-bind', '/', '/',
    '--tmpfs', '/tmp',
    '--dev', '/dev',
    ...(proc === 'private' ? ['--proc', '/proc'] : ['--tmpfs', '/proc']),
    // connect() on a socket ignores read-only mounts: /run (docker.sock, dbus...) goes
    '--tmpfs', '/run',
  ];
  try {
    if (!lstatSync('/var/run').isSymbolicLink()) args.push('--tmpfs', '/var/run');
  } catch {
    // no /var/run
  }
  return args;
}

export function agentBwrapArgs(spec: AgentSandboxSpec): string[] {
  const args = baseArgs(spec.proc);
  args.push('--ro-bind', spec.egressDir, EGRESS_DIR_IN_SANDBOX);
  for (const path of spec.hide) {
    let dir: boolean;
    try {
      dir = statSync(path).isDirectory();
    } catch {
      continue;
    }
    args.push(...(dir ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path]));
  }
  args.push('--bind', spec.workspace, spec.workspace);
  for (const p of spec.readOnly) if (existsSync(p)) args.push('--ro-bind', p, p);
  args.push('--bind', spec.scratch, spec.scratch);
  for (const [name, value] of Object.entries(spec.env)) args.push('--setenv', name, value);
  args.push('--chdir', spec.workspace, '--', ...spec.argv);
  return args;
}

/**
 * Which /proc the agent can get here: a private one (plain host), none (nested in the runner's sandbox), or throws
 * STAGE_SANDBOX_UNAVAILABLE with bwrap's own reason.
 */
export function probeSandbox(bwrap: string): ProcMode {
  let why = '';
  for (const proc of ['private', 'none'] as const) {
    const r = spawnSync(bwrap, [...baseArgs(proc), '--', '/bin/true'], { encoding: 'utf8', timeout: 10_000 });
    if (r.error) {
      why = (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${bwrap} not found (Debian: apt-get install bubblewrap)` : r.error.message;
      break;
    }
    if (r.status === 0) return proc;
    why = r.stderr.trim().split('\n')[0] ?? `exit status ${String(r.status)}`;
  }
  throw new VouchError(
    'STAGE_SANDBOX_UNAVAILABLE',
    `cannot start the agent's sandbox: ${why}. The agent never runs unsandboxed. Under \`vouch run\` the step must run as a ` +
      'non-root uid (the Task sets securityContext.runAsUser) so that bubblewrap can nest; see docs/agent-run.md',
  );
}

export interface AgentProcessOutcome {
  exitCode: number;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** stdout + stderr passed the limit: the agent was stopped there */
  outputLimitExceeded: boolean;
  stdoutBytes: number;
  stderrBytes: number;
  startedAt: Date;
  finishedAt: Date;
}

export interface RunAgentOptions {
  bwrap: string;
  spec: AgentSandboxSpec;
  /** written to the agent's stdin, then closed */
  stdin: string;
  stdoutFile: string;
  stderrFile: string;
  timeoutMs: number;
  maxOutputBytes: number;
}

/** Runs the agent to its end, a timeout or the output limit; never throws for the agent's own failure. */
export function runAgentProcess(o: RunAgentOptions): Promise<AgentProcessOutcome> {
  const stdout = createWriteStream(o.stdoutFile);
  const stderr = createWriteStream(o.stderrFile);
  const startedAt = new Date();
  return new Promise((resolve) => {
    let timedOut = false;
    let outputLimitExceeded = false;
    let stdoutBytes = 0;
    let stderrBytes = 0;
    const child = spawn(o.bwrap, agentBwrapArgs(o.spec), { cwd: '/', env: {}, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const kill = (): void => {
      // bwrap's own group; the sandbox's init dies with it (--die-with-parent), and with it every agent process
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, o.timeoutMs);
    const take = (chunk: Buffer, to: typeof stdout, stream: 'out' | 'err'): void => {
      const room = o.maxOutputBytes - stdoutBytes - stderrBytes;
      if (room <= 0) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      to.write(part);
      if (stream === 'out') stdoutBytes += part.length;
      else stderrBytes += part.length;
      if (chunk.length >= room) {
        outputLimitExceeded = true;
        kill();
      }
    };
    child.stdout.on('data', (c: Buffer) => { take(c, stdout, 'out'); });
    child.stderr.on('data', (c: Buffer) => { take(c, stderr, 'err'); });
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.stdin);
    let settled = false;
    const finish = (exitCode: number, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      kill();
      let open = 2;
      const done = (): void => {
        if (--open === 0) resolve({ exitCode, signal, timedOut, outputLimitExceeded, stdoutBytes, stderrBytes, startedAt, finishedAt: new Date() });
      };
      stdout.end(done);
      stderr.end(done);
    };
    child.on('error', (err) => {
      stderr.write(`vouch agent-run: cannot start ${o.bwrap}: ${err.message}\n`);
      finish(127, null);
    });
    child.on('exit', kill);
    child.on('close', (code, signal) => {
      finish(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), signal);
    });
  });
}

/** Credential locations of a home directory, covered in the sandbox when they exist. */
export function credentialPaths(home: string | undefined): string[] {
  const inHome = ['.ssh', '.gnupg', '.aws', '.azure', '.config/gcloud', '.docker', '.kube', '.netrc', '.npmrc', '.git-credentials', '.pypirc', '.vault-token', '.claude', '.claude.json', '.anthropic'];
  const system = ['/etc/shadow', '/etc/gshadow', '/etc/sudoers', '/etc/sudoers.d'];
  return [...(home ? inHome.map((p) => join(home, p)) : []), ...system].filter((p) => existsSync(p));
}
