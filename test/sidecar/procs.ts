// Child processes for the crash and outage tests: `vouch sidecar` and `vouch log serve`, started as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, REPO_ROOT } from '../helpers/cli.ts';
import { TOKEN } from './helpers.ts';

export interface Child {
  url: string;
  proc: ChildProcess;
}

export async function startSidecarProcess(config: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  return spawnServer(['--config', config, 'sidecar'], { VOUCH_SINK_TOKEN: TOKEN, ...env }, 'sidecar');
}

/** Starts `vouch ARGS` and resolves with the URL it prints once it listens (rejects if it exits first). */
async function spawnServer(args: string[], env: NodeJS.ProcessEnv, what: string): Promise<Child> {
  const proc = spawn(process.execPath, [CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, VOUCH_LOG_LEVEL: 'error', VOUCH_LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => {
      reject(new Error(`${what} exited ${String(code)}: ${out}`));
    });
  });
  return { url, proc };
}

export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve(proc.exitCode);
      return;
    }
    proc.once('exit', (code) => {
      resolve(code);
    });
    proc.kill(signal);
  });
}

export function startLog(dir: string, listen: string): Promise<{ url: string; proc: ChildProcess }> {
  return spawnServer(['log', 'serve', '--data', dir, '--listen', listen], {}, 'log');
}
