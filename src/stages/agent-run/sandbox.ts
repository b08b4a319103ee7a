// The agent's sandbox: bubblewrap with every namespace unshared (no network: only a loopback, where launcher.ts
// relays to the egress proxy's unix socket), no capabilities, and an empty root holding only what the agent needs:
// the system directories (read-only), the directories of its own programs (read-only), the source workspace and a
// scratch directory (writable; the workspace's .git and .vouch stay read-only: git config and hooks would run code in
// the stage, reports belong to the stages), a private /tmp and an empty tmpfs HOME. The user's home, /root, /var,
// mounted secrets (/var/run/secrets) and any key file elsewhere on the host do not exist inside; credential files
// that a visible directory holds are covered too. The environment is exactly what the stage declares. The bwrap
// mechanism is src/common/sandbox.ts; what the agent may see is decided here.
//
// Nested under `vouch run` the outer step sandbox is a user namespace where uid 0 has no capabilities: the kernel then
// refuses a nested user namespace that maps uid 0 (CAP_SETFCAP rule, Linux >= 5.12) and refuses a new procfs
// (the outer /proc is partly covered). probeSandbox() finds what works: a private /proc, no /proc at all (the agent
// still gets its own pid namespace; without /proc it cannot see the stage's processes either), or nothing, which is
// an error (docs/agent-run.md).
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { sep } from 'node:path';
import { VouchError } from '../../common/errors.ts';
import { SYSTEM_DIRS, bindArgs, commandArgs, exitStatus, hideArgs, homeCredentialPaths, isolationArgs, killProcessGroup, probeProcMode, systemSecretPaths, type ProcMode } from '../../common/sandbox.ts';

export type { ProcMode } from '../../common/sandbox.ts';

/** Where the egress proxy's socket directory appears inside the sandbox. */
export const EGRESS_DIR_IN_SANDBOX = '/run/vouch-egress';
/** The agent's HOME inside the sandbox: an empty tmpfs, gone with the sandbox. */
export const AGENT_HOME = '/home/agent';

export interface AgentSandboxSpec {
  argv: string[];
  env: Record<string, string>;
  /** the source workspace: writable, except the paths in readOnly */
  workspace: string;
  /** paths under the workspace bound read-only over the writable workspace (.git, .vouch) */
  readOnly: string[];
  /** the scratch directory (TMPDIR of the agent): writable */
  scratch: string;
  /** host directories of the agent's programs (node, the agent's binary or script, PATH entries): read-only */
  tools: string[];
  /** host directory holding the proxy's socket: visible read-only at EGRESS_DIR_IN_SANDBOX */
  egressDir: string;
  /** files and directories to cover (credentials) */
  hide: string[];
  proc: ProcMode;
}

export function agentBwrapArgs(spec: AgentSandboxSpec): string[] {
  return [
    ...isolationArgs({ network: false, proc: spec.proc, view: SYSTEM_DIRS }),
    '--ro-bind', spec.egressDir, EGRESS_DIR_IN_SANDBOX,
    ...bindArgs(spec.tools.filter((p) => existsSync(p)), 'ro'),
    '--tmpfs', AGENT_HOME,
    ...bindArgs([spec.workspace], 'rw'),
    // on top of the writable workspace
    ...bindArgs(spec.readOnly.filter((p) => existsSync(p)), 'ro'),
    ...bindArgs([spec.scratch], 'rw'),
    // last, so that a credential inside any visible directory is covered
    ...hideArgs(visibleOnly(spec.hide, [...SYSTEM_DIRS, ...spec.tools, spec.workspace, spec.scratch])),
    ...commandArgs(spec.env, spec.workspace, spec.argv),
  ];
}

/**
 * Which /proc the agent can get here: a private one (plain host), none (nested in the runner's sandbox), or throws
 * STAGE_SANDBOX_UNAVAILABLE with bwrap's own reason.
 */
export function probeSandbox(bwrap: string): ProcMode {
  // no 'bind': the agent must not even see the stage's process list
  const probe = probeProcMode(bwrap, { network: false }, ['private', 'none']);
  if (probe.ok) return probe.proc;
  throw new VouchError(
    'STAGE_SANDBOX_UNAVAILABLE',
    `cannot start the agent's sandbox: ${probe.reason === 'missing' ? `${bwrap} not found (Debian: apt-get install bubblewrap)` : probe.why}. ` +
      'The agent never runs unsandboxed. Under `vouch run` the step must run as a ' +
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
      killProcessGroup(child);
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
      finish(exitStatus(code, signal), signal);
    });
  });
}

/** Credential locations of a home directory (the agents' own too) and of the system, covered when they exist. */
export function credentialPaths(home: string | undefined): string[] {
  return [...(home ? homeCredentialPaths(home, ['.claude', '.claude.json', '.anthropic']) : []), ...systemSecretPaths()];
}

const under = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** The paths inside one of `visible`: the others do not exist in the sandbox, covering them would only create them. */
export function visibleOnly(paths: readonly string[], visible: readonly string[]): string[] {
  return paths.filter((p) => visible.some((d) => under(p, d)));
}

/** `dirs` without those inside another of them or inside a system directory (already visible), in order. */
export function toolDirs(dirs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of dirs) {
    if (!d.startsWith('/') || SYSTEM_DIRS.some((s) => under(d, s)) || out.some((o) => under(d, o))) continue;
    for (let i = out.length - 1; i >= 0; i--) if (under(out[i]!, d)) out.splice(i, 1);
    out.push(d);
  }
  return out;
}
