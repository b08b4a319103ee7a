// Child processes for the crash and outage tests: `vouch sidecar` and `vouch log serve`, started as a user would.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, REPO_ROOT } from '../helpers/cli.ts';
import { TOKEN } from './helpers.ts';

export interface Child {
  url: string;
  proc: ChildProcess;
}

export async function startSidecarProcess(config: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const proc = spawn(process.execPath, [CLI, '--config', config, 'sidecar'], {
    cwd: REPO_ROOT,
    env: { ...process.env, VOUCH_LOG_LEVEL: 'error', VOUCH_LOG_FORMAT: 'json', VOUCH_SINK_TOKEN: TOKEN, ...env },
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
      reject(new Error(`sidecar exited ${String(code)}: ${out}`));
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

export async function startLog(dir: string, listen: string): Promise<{ url: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [CLI, 'log', 'serve', '--data', dir, '--listen', listen], {
    cwd: REPO_ROOT,
    env: { ...process.env, VOUCH_LOG_LEVEL: 'error', VOUCH_LOG_FORMAT: 'json' },
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
      reject(new Error(`log exited ${String(code)}: ${out}`));
    });
  });
  return { url, proc };
}
