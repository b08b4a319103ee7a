// Child processes for the crash and outage tests: `vouch sidecar` and `vouch log serve`, started as a user would.
import type { ChildProcess } from 'node:child_process';
import { startVouchServer } from '../helpers/cli.ts';
import { TOKEN } from './helpers.ts';

export interface Child {
  url: string;
  proc: ChildProcess;
}

export function startSidecarProcess(config: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  return startVouchServer(['--config', config, 'sidecar'], { env: { VOUCH_SINK_TOKEN: TOKEN, ...env } });
}

export function startLog(dir: string, listen: string): Promise<Child> {
  return startVouchServer(['log', 'serve', '--data', dir, '--listen', listen]);
}
