// One build run in its own sandbox. Where bubblewrap can create namespaces (the stage on a host, or in a pod that
// allows user namespaces) each run gets a read-only view of the host, a private /tmp, /dev, /proc and hostname, write
// access to its own directory only, an environment made only of what we set, and no network unless asked (the image
// push). Inside `vouch run`'s step sandbox, nested namespaces are refused by the kernel: the runs are then plain
// child processes in their own directories with the same clean environment, and the report says so (`isolation`).
//
// The bwrap mechanism is src/common/sandbox.ts; what a build may see is decided here.
import { spawn } from 'node:child_process';
import { VouchError } from '../../common/errors.ts';
import { DEFAULT_PATH, NESTING_UID, bindArgs, commandArgs, hideArgs, isolationArgs, killProcessGroup, nestedRootArgs, probeProcMode, systemSecretPaths, userArgs, type IsolationOptions, type ProcMode } from '../../common/sandbox.ts';

export type Isolation = 'bwrap' | 'process';

/** The PATH a build gets (what a typical container image declares). */
export const BUILD_PATH = DEFAULT_PATH;

/** Home directories hide credentials (.ssh, .docker, .npmrc...): a build sees empty ones. */
const HIDDEN_DIRS = ['/root', '/home'];

let probed: { isolation: Isolation; proc: ProcMode } | undefined;

/**
 * bwrap when it can make the namespaces we use here, else plain processes (checked once per process). Nested in a
 * step sandbox that runs as a non-root uid (securityContext.runAsUser), bwrap works but a new procfs is refused: the
 * builds then see the step's /proc.
 */
export function availableIsolation(): Isolation {
  return probeIsolation().isolation;
}

function probeIsolation(): { isolation: Isolation; proc: ProcMode } {
  if (probed === undefined) {
    const r = probeProcMode('bwrap', { network: false, keepCaps: false, hostname: 'probe' }, ['private', 'bind']);
    probed = r.ok ? { isolation: 'bwrap', proc: r.proc } : { isolation: 'process', proc: 'private' };
  }
  return probed;
}

function baseArgs(o: IsolationOptions): string[] {
  return [...isolationArgs(o), ...hideArgs([...HIDDEN_DIRS, ...systemSecretPaths()])];
}

/**
 * The bwrap command line of a run. A run that keeps capabilities (buildah) gets them only as root of a nested user
 * namespace inside a capability-less sandbox (nestedRootArgs), never from the outer bwrap.
 */
export function buildBwrapArgs(r: Omit<SandboxedRun, 'isolation' | 'umask' | 'timeoutSeconds'>, proc: ProcMode = probeIsolation().proc): string[] {
  const outer = [...baseArgs({ network: r.network, hostname: r.hostname, proc }), ...bindArgs([r.writable], 'rw')];
  if (!r.keepCaps) return [...outer, ...commandArgs(r.env, r.cwd, r.argv)];
  return [
    ...outer,
    ...userArgs({ uid: NESTING_UID, gid: NESTING_UID }),
    ...commandArgs(r.env, r.cwd, ['bwrap', ...nestedRootArgs({ network: r.network, writable: [r.writable] }), '--chdir', r.cwd, '--', ...r.argv]),
  ];
}

export interface SandboxedRun {
  argv: string[];
  /** the complete environment */
  env: Record<string, string>;
  cwd: string;
  /** the one directory the run may write (bound read-write at the same path) */
  writable: string;
  network: boolean;
  /** buildah needs capabilities (vfs storage, chroot): root of a nested user namespace; a build command needs none */
  keepCaps: boolean;
  hostname: string;
  /** octal, e.g. 0o022; applied by a shell wrapper since bwrap has no umask option */
  umask: number;
  timeoutSeconds: number;
  isolation: Isolation;
  /** bytes of output kept (the tail) */
  outputLimit?: number;
}

export interface SandboxedOutcome {
  code: number | null;
  signal: string | null;
  timedOut: boolean;
  /** stdout and stderr interleaved, the tail */
  output: string;
}

/** Runs argv in a sandbox; never throws for the run's own failure (that is the outcome's code). */
export function runSandboxed(r: SandboxedRun): Promise<SandboxedOutcome> {
  const umask = r.umask.toString(8).padStart(4, '0');
  // umask is inherited across exec: set it in a shell, then exec the real command
  const wrapped = ['/bin/sh', '-c', `umask ${umask} && exec "$@"`, 'sh', ...r.argv];
  let file: string;
  let args: string[];
  if (r.isolation === 'bwrap') {
    file = 'bwrap';
    args = buildBwrapArgs({ ...r, argv: wrapped });
  } else {
    [file, ...args] = wrapped as [string, ...string[]];
  }
  const limit = r.outputLimit ?? 256 * 1024;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd: r.isolation === 'bwrap' ? '/' : r.cwd, env: r.isolation === 'bwrap' ? {} : r.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    const killTree = (): void => {
      killProcessGroup(child);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killTree();
    }, r.timeoutSeconds * 1000);
    const onData = (c: Buffer): void => {
      output += c.toString('utf8');
      if (output.length > 2 * limit) output = output.slice(-limit);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new VouchError('STAGE_TOOL_FAILED', `cannot start ${file}: ${e.message}`, { cause: e }));
    });
    // leftovers of the build in its group would hold the pipes open
    child.on('exit', killTree);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, timedOut, output: output.length > limit ? '…(truncated)\n' + output.slice(-limit) : output });
    });
  });
}
