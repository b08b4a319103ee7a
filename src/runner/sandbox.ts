// Runs one step as a host process, isolated with bubblewrap: a read-only view of the host, a private /tmp, /dev and
// /proc, write access only to the directories the step is given (its workspaces, results, scratch), no network unless
// allowed, and an environment made only of what the step declares. Timeouts and cancellation kill the whole process
// tree (bwrap's pid namespace dies with its init; without the sandbox the step's process group is killed).
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, realpathSync, createWriteStream, mkdirSync, openSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VouchError } from '../common/errors.ts';
import { bindArgs, commandArgs, exitStatus, hideArgs, homeCredentialPaths, isolationArgs, killProcessGroup, probeBwrap, systemSecretPaths, userArgs } from '../common/sandbox.ts';

export { CREDENTIAL_PATHS, DEFAULT_PATH, SYSTEM_SECRET_PATHS } from '../common/sandbox.ts';

export interface SandboxOptions {
  /** false only with the loud `--no-sandbox`: the step then runs as a plain child process */
  enabled: boolean;
  /** the bwrap binary (tests point it elsewhere to check the explanation) */
  bwrap?: string;
  /**
   * host files and directories a step must not read even though the host is visible read-only (credentials, the
   * signing key): directories are covered by an empty tmpfs, files by /dev/null
   */
  hide?: readonly string[];
}

/** The credential paths of a home directory and of the system that exist, plus extra files (e.g. the signing key). */
export function defaultHiddenPaths(home: string, extra: readonly string[] = []): string[] {
  return [...homeCredentialPaths(home), ...systemSecretPaths(), ...extra.filter((p) => p !== '' && existsSync(p))];
}

export interface StepProcessSpec {
  argv: string[];
  /** the complete environment of the step (nothing is inherited from vouch's own environment) */
  env: Record<string, string>;
  workingDir: string;
  /** host directories the step may write to (bound read-write at the same path) */
  writable: string[];
  /** host directories made visible read-only at the same path even when they are under /tmp */
  readable?: string[];
  network: boolean;
  /**
   * the step's securityContext runAsUser/runAsGroup, as the user inside the sandbox's user namespace (still the
   * invoking user outside). A non-root step can nest its own bubblewrap (the agent-run stage): the kernel lets a
   * capability-less uid 0 map no user namespace of its own (CAP_SETFCAP rule, Linux >= 5.12)
   */
  runAs?: { uid: number; gid: number };
  /** milliseconds; 0 or undefined means none */
  timeoutMs?: number;
  /** stdout and stderr, interleaved as they arrive, like a container's log */
  logFile: string;
  onOutput?: (chunk: string) => void;
  signal?: AbortSignal;
}

export interface StepProcessOutcome {
  exitCode: number;
  /** the signal that ended the step, if it was killed */
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cancelled: boolean;
  startedAt: Date;
  finishedAt: Date;
}

const HOW_TO_FIX =
  'Install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install bubblewrap`) and make sure ' +
  'unprivileged user namespaces are allowed (sysctl kernel.unprivileged_userns_clone=1, or run as root), ' +
  'or run with --no-sandbox to run steps WITHOUT isolation (they can then read your environment, write anywhere ' +
  'you can and reach the network).';

let preflightDone: string | undefined;

/**
 * Checks once per process that bwrap exists and can create the namespaces we use, so a run stops before its first
 * step with an explanation rather than failing every step.
 */
export function preflightSandbox(options: SandboxOptions): void {
  if (!options.enabled) return;
  const bwrap = options.bwrap ?? 'bwrap';
  if (preflightDone === bwrap) return;
  const probe = probeBwrap(bwrap, stepIsolationArgs(false));
  if (!probe.ok) {
    throw new VouchError(
      'SANDBOX_UNAVAILABLE',
      probe.reason === 'missing'
        ? `the step sandbox needs bubblewrap (\`${bwrap}\` not found). ${HOW_TO_FIX}`
        : probe.reason === 'spawn'
          ? `cannot start the step sandbox (${bwrap}): ${probe.why}. ${HOW_TO_FIX}`
          : `bubblewrap cannot create the step sandbox here (${probe.why}). ${HOW_TO_FIX}`,
    );
  }
  preflightDone = bwrap;
}

/** The isolation shared by the probe and real steps. */
function stepIsolationArgs(network: boolean): string[] {
  // vouch itself (its Node and its code) must stay visible to steps that run the vouch CLI, also when it is
  // installed under a directory masked by the isolation (a checkout in /tmp); hidden paths are mounted after this
  return [...isolationArgs({ network }), ...bindArgs(VOUCH_INSTALL_DIRS, 'ro')];
}

/** The repository vouch runs from, and the real directory of the Node binary running it. */
const VOUCH_INSTALL_DIRS: readonly string[] = (() => {
  const repo = realpathSync(fileURLToPath(new URL('../../', import.meta.url)));
  const nodeDir = dirname(realpathSync(process.execPath));
  return nodeDir.startsWith(`${repo}/`) ? [repo] : [repo, nodeDir];
})();

/** The full bwrap command line for a step (exported for tests and --json diagnostics). */
export function bwrapArgs(spec: StepProcessSpec, hide: readonly string[] = []): string[] {
  return [
    ...stepIsolationArgs(spec.network),
    ...userArgs(spec.runAs),
    ...hideArgs(hide),
    // order matters: the step's own directories go on top of the private /tmp and the hidden paths
    ...bindArgs(spec.readable ?? [], 'ro'),
    ...bindArgs(spec.writable, 'rw'),
    ...commandArgs(spec.env, spec.workingDir, spec.argv),
  ];
}

/** Runs one step to completion. Never throws for the step's own failure: that is the outcome's exit code. */
export function runStepProcess(spec: StepProcessSpec, options: SandboxOptions): Promise<StepProcessOutcome> {
  mkdirSync(dirname(spec.logFile), { recursive: true });
  for (const dir of spec.writable) mkdirSync(dir, { recursive: true });
  // without a live listener the step writes straight into its log file (no copying through this process)
  const direct = spec.onOutput === undefined ? openSync(spec.logFile, 'a') : undefined;
  const log: WriteStream | undefined = direct === undefined ? createWriteStream(spec.logFile, { flags: 'a' }) : undefined;
  const startedAt = new Date();
  const [file, args] = options.enabled
    ? [options.bwrap ?? 'bwrap', bwrapArgs(spec, options.hide)]
    : [spec.argv[0]!, spec.argv.slice(1)];

  return new Promise((resolve) => {
    let timedOut = false;
    let cancelled = false;
    let settled = false;
    const child = spawn(file, args, {
      cwd: options.enabled ? '/' : spec.workingDir,
      env: options.enabled ? {} : spec.env,
      // its own process group, so that a kill reaches everything the step started
      detached: true,
      stdio: direct === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', direct, direct],
    });
    if (direct !== undefined) closeSync(direct);
    const killTree = (): void => {
      killProcessGroup(child);
    };
    const onAbort = (): void => {
      cancelled = true;
      killTree();
    };
    const timer = spec.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killTree();
        }, spec.timeoutMs)
      : undefined;
    if (spec.signal?.aborted) onAbort();
    else spec.signal?.addEventListener('abort', onAbort, { once: true });
    const onData = (chunk: Buffer): void => {
      log?.write(chunk);
      spec.onOutput?.(chunk.toString('utf8'));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    const finish = (exitCode: number, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      // anything the step left running in its group goes with it, as a pod's containers do
      killTree();
      const done = (): void => {
        resolve({ exitCode, signal, timedOut, cancelled, startedAt, finishedAt: new Date() });
      };
      if (log) log.end(done);
      else done();
    };
    child.on('error', (err) => {
      const line = `vouch: cannot start step: ${err.message}\n`;
      if (log) log.write(line);
      else appendFileSync(spec.logFile, line);
      spec.onOutput?.(line);
      finish(127, null);
    });
    // leftovers in the step's group would hold its output pipes open and delay 'close'
    child.on('exit', killTree);
    child.on('close', (code, signal) => {
      finish(exitStatus(code, signal), signal);
    });
  });
}
