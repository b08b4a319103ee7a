// Running a repository's own commands (tests, Stryker, fuzz targets) from a stage: in their own process group, so
// a time bound stops everything they started, with their output captured. The stage runs inside the runner's
// sandbox; this does not add one.

import { spawn } from 'node:child_process';
import { VouchError } from '../common/errors.ts';

export interface ProcessRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  timeoutSeconds: number;
  /** what is being run, for the error when it cannot start */
  what: string;
}

/** A test command's environment: ours, minus what would change how a nested `node --test` reports. */
export function commandEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true', NO_COLOR: '1', ...extra };
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

/** Runs `file args`; never throws on exit code; STAGE_TOOL_FAILED when it cannot start. */
export function runProcess(file: string, args: readonly string[], o: ProcessOptions): Promise<ProcessRun> {
  return new Promise((resolvePromise, reject) => {
    // its own process group, so a timeout stops the whole tree it started
    const child = spawn(file, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: o.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, o.timeoutSeconds * 1000);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new VouchError('STAGE_TOOL_FAILED', `cannot run ${o.what}: ${e.message}`, { cause: e }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut });
    });
  });
}

/** Kept of a command's output for a report (the tail: failures come last). */
export const OUTPUT_LIMIT = 1024 * 1024;

export function outputTail(text: string, limit = OUTPUT_LIMIT): string {
  return text.length > limit ? '…(truncated)\n' + text.slice(-limit) : text;
}
