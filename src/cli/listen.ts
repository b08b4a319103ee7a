// `vouch listen`: the GitHub pull-request webhook served on this machine, through the EventListener, TriggerBinding
// and TriggerTemplate of pipelines/triggers/ (the ones a cluster applies), each accepted delivery becoming a local
// run by the code path of `vouch run`.
import type { Command } from 'commander';
import { join } from 'node:path';
import type { VouchConfig } from '../common/config.ts';
import { VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import { startListener, type RunningListener } from '../runner/listener.ts';
import { planRun } from '../runner/plan.ts';
import { loadTriggersDir, type SecretResolver } from '../tekton/triggers.ts';
import { action, collect, out, setup } from './context.ts';
import { BUNDLED_PIPELINES, BUNDLED_TASKS, executeRun, type ExecuteOptions } from './run.ts';

const BUNDLED_TRIGGERS = join(BUNDLED_PIPELINES, 'triggers');

interface ListenOptions {
  address?: string;
  triggers?: string;
  eventListener: string;
  tasks?: string;
  pipelines?: string;
  workspace: string[];
  hostImage: string[];
  allowNetwork: string[];
  sink?: string;
  sandbox: boolean;
  store?: string;
  logData?: string;
  key?: string;
}

export interface LocalRunsOptions {
  tasksDir: string;
  pipelinesDir: string;
  /** `-w name=DIR` bindings for workspaces the template binds to claims that do not exist here (e.g. osv-database) */
  workspaces: string[];
  execute: ExecuteOptions;
  config: VouchConfig;
  /** where each run's directory goes (default .vouch/runs) */
  runsDir?: string;
}

export interface LocalRuns {
  /** plans a rendered PipelineRun (validated before anything runs) and queues it; returns its name */
  start(resource: Record<string, unknown>, eventID: string): Promise<string>;
  /** resolves when every queued run has finished */
  idle(): Promise<void>;
  /** finished runs by PipelineRun name */
  readonly finished: Map<string, { succeeded: boolean; runDir: string }>;
}

/** Runs one at a time, as `vouch run` would run each: a laptop does not run a cluster's worth of pipelines at once. */
export function localRuns(o: LocalRunsOptions): LocalRuns {
  const log = logger('listen');
  let queue: Promise<void> = Promise.resolve();
  const finished = new Map<string, { succeeded: boolean; runDir: string }>();
  return {
    finished,
    async start(resource, eventID) {
      if (resource['kind'] !== 'PipelineRun') throw new VouchError('USAGE', `the template renders a ${String(resource['kind'])}; vouch listen starts PipelineRuns only`);
      const plan = await planRun({ pipelineRunObject: { resource, source: `(event ${eventID})` }, tasksDir: o.tasksDir, pipelinesDir: o.pipelinesDir, workspaces: o.workspaces });
      const name = plan.pipelineRun.metadata.name!;
      const runDir = join(o.runsDir ?? join('.vouch', 'runs'), name);
      queue = queue.then(async () => {
        try {
          finished.set(name, await executeRun(plan, { ...o.execute, runDir }, o.config));
        } catch (err) {
          log.error({ pipelineRun: name, err: (err as Error).message }, 'run failed to execute');
          finished.set(name, { succeeded: false, runDir });
        }
      });
      return name;
    },
    idle: () => queue,
  };
}

/** Locally every secretRef resolves to the one webhook secret in the environment variable listen.secretEnv. */
export function envSecret(config: VouchConfig, env: NodeJS.ProcessEnv = process.env): SecretResolver {
  const value = env[config.listen.secretEnv];
  if (value === undefined || value === '') {
    throw new VouchError('CONFIG_INVALID', `set the webhook secret in $${config.listen.secretEnv} (config listen.secretEnv); vouch listen does not accept unsigned deliveries`);
  }
  return () => value;
}

function parseAddress(address: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new VouchError('USAGE', `--address ${JSON.stringify(address)} is not HOST:PORT (e.g. 127.0.0.1:8080; port 0 picks a free one)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}


export function registerListen(program: Command): void {
  program
    .command('listen')
    .description(
      'serve the GitHub pull-request webhook on this machine: deliveries are checked (X-Hub-Signature-256 against the ' +
        'secret in $VOUCH_WEBHOOK_SECRET, event type, CEL filter) and mapped to PipelineRuns by the EventListener, ' +
        'TriggerBinding and TriggerTemplate of pipelines/triggers/, exactly as a cluster would; each runs locally as `vouch run` runs it.',
    )
    .option('--address <host:port>', 'where to listen (default listen.address, 127.0.0.1:8080)')
    .option('--triggers <dir>', "directory of the Triggers YAML (default: vouch's own pipelines/triggers/)")
    .option('--event-listener <name>', 'the EventListener to serve', 'vouch-github')
    .option('--tasks <dir>', "directory of Task YAML for taskRef (default: vouch's own tasks/)")
    .option('--pipelines <dir>', "directory of Pipeline YAML for pipelineRef (default: vouch's own pipelines/)")
    .option('-w, --workspace <name=dir>', 'bind a workspace the template binds to a claim (e.g. osv-database) to a host directory; repeatable', collect, [])
    .option('--host-image <pattern>', 'as vouch run; repeatable', collect, [])
    .option('--allow-network <task>', 'as vouch run; repeatable', collect, [])
    .option('--sink <url>', 'as vouch run: CloudEvents sink')
    .option('--store <dir>', 'as vouch run: attest each finished run in this process into this store')
    .option('--log-data <dir>', 'as vouch run, with --store')
    .option('--key <file>', 'as vouch run, with --store')
    .option('--no-sandbox', 'as vouch run: run steps WITHOUT isolation')
    .addHelpText(
      'after',
      `
Answers: 202 with the PipelineRun names when a run started; 401 without X-Hub-Signature-256, 403 with a wrong one
(nothing started); 200 when the event type or the CEL filter leaves it out (e.g. ping, a closed pull request);
400 for a body that is not JSON; 422 when the template's PipelineRun does not validate. Runs go one at a time, with
their objects and logs under .vouch/runs/<pipelinerun>. GET /live answers 200.`,
    )
    .action(
      action(async (opts: ListenOptions, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        const secrets = envSecret(config);
        const triggers = await loadTriggersDir(opts.triggers ?? BUNDLED_TRIGGERS);
        const { host, port } = parseAddress(opts.address ?? config.listen.address);
        const runs = localRuns({
          tasksDir: opts.tasks ?? BUNDLED_TASKS,
          pipelinesDir: opts.pipelines ?? BUNDLED_PIPELINES,
          workspaces: opts.workspace,
          config,
          execute: {
            hostImage: opts.hostImage,
            allowNetwork: opts.allowNetwork,
            sandbox: opts.sandbox,
            ...(opts.sink !== undefined ? { sink: opts.sink } : {}),
            ...(opts.store !== undefined ? { store: opts.store } : {}),
            ...(opts.logData !== undefined ? { logData: opts.logData } : {}),
            ...(opts.key !== undefined ? { key: opts.key } : {}),
          },
        });
        const listener: RunningListener = await startListener(host, port, { triggers, listener: opts.eventListener, secrets, start: (r, id) => runs.start(r, id) });
        out(`listening on ${listener.url} (EventListener ${opts.eventListener}); Ctrl-C stops`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        await listener.close();
        await runs.idle();
        return 0;
      }),
    );
}
