// `vouch run`: runs a Tekton Pipeline locally, each step sandboxed, emitting Tekton's CloudEvents.
import { Option, type Command } from 'commander';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrivateKey } from '../attest/keys.ts';
import { ExitCode, VouchError } from '../common/errors.ts';
import { runPipeline } from '../runner/executor.ts';
import { planRun, type Plan } from '../runner/plan.ts';
import type { VouchConfig } from '../common/config.ts';
import { defaultHiddenPaths } from '../runner/sandbox.ts';
import { HttpSink, cloudEventFor, type EventSink } from '../runner/events.ts';
import { JsonView, PlainView, TerminalView, type RunView } from '../runner/view.ts';
import { ociEvidenceOptions, startInProcessSidecar } from '../sidecar/index.ts';
import { action, collect, setup } from './context.ts';

interface RunOptions extends ExecuteOptions {
  pipelinerun?: string;
  pipeline?: string;
  pipelineName?: string;
  tasks?: string;
  pipelines?: string;
  param: string[];
  workspace: string[];
  timeout?: string;
}

// the Tasks and Pipelines vouch ships: trusted definitions, so a repository under test cannot bring its own judges
export const BUNDLED_TASKS = fileURLToPath(new URL('../../tasks', import.meta.url));
export const BUNDLED_PIPELINES = fileURLToPath(new URL('../../pipelines', import.meta.url));

const list = (s: string): string[] => s.split(',').map((x) => x.trim()).filter((x) => x !== '');

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'run a Tekton Pipeline on this machine: the same Task/Pipeline YAML as on a cluster, each step a sandboxed host ' +
        'process (bubblewrap: read-only host, no network, only its workspaces writable), with Tekton TaskRun/PipelineRun ' +
        'objects and logs under the run directory and Tekton CloudEvents sent to --sink. Exits 0 only when the ' +
        'PipelineRun succeeded.',
    )
    .addOption(new Option('--pipelinerun <file>', 'a PipelineRun YAML (pipelineRef or embedded pipelineSpec)').conflicts(['pipeline', 'pipelineName']))
    .addOption(new Option('--pipeline <file>', 'a Pipeline YAML, run with -p/-w like `tkn pipeline start`').conflicts(['pipelineName']))
    .option('--pipeline-name <name>', "a Pipeline by metadata.name from --pipelines (vouch's own pipelines/ by default)")
    .option('--tasks <dir>', "directory of Task YAML for taskRef (default: vouch's own tasks/, never the repository under test's)")
    .option('--pipelines <dir>', "directory of Pipeline YAML for --pipeline-name and pipelineRef (default: vouch's own pipelines/)")
    .option('-p, --param <name=value>', 'pipeline param (arrays a,b,c; objects k:v,k2:v2); repeatable', collect, [])
    .option('-w, --workspace <name=dir>', 'bind a pipeline workspace to a host directory; repeatable', collect, [])
    .option('--sink <url>', 'CloudEvents sink (binary mode); bearer token from $VOUCH_SINK_TOKEN (runner.sinkTokenEnv)')
    .option('--run-dir <dir>', 'where pipelinerun.json, taskruns/ and logs/ go (default .vouch/runs/<pipelinerun>)')
    .option('--host-image <pattern>', 'run steps whose image matches this glob with the host tools (sandboxed); repeatable', collect, [])
    .option('--allow-network <task>', 'let the steps of this pipeline task use the network; repeatable', collect, [])
    .option('--timeout <duration>', "the PipelineRun's pipeline timeout (Go duration, e.g. 30m, 1h0m0s; 0 = none)")
    .option('--json', 'one JSON record per TaskRun/PipelineRun transition on stdout')
    .option('--store <dir>', 'attest the finished PipelineRun in this process (the sidecar, embedded): local attestation store')
    .option('--log-data <dir>', 'with --store: embedded transparency log directory (default tlog.data)')
    .option('--key <file>', 'with --store: PKCS#8 PEM signing key (default signing.key; password from signing.passwordEnv)')
    .option('--no-sandbox', 'run steps WITHOUT isolation (they can write your files and use the network); for hosts without bubblewrap')
    .addHelpText(
      'after',
      `
Step images: there are no containers here. Steps whose image is vouch's task image (config runner.taskImage,
default ghcr.io/vouch-dev/vouch, any tag or digest) run the local vouch CLI; steps whose image matches a
--host-image glob (config runner.hostImages) run with the host's tools; any other image is refused before the run.
Ctrl-C cancels the run (steps killed, PipelineRun Cancelled, events sent).`,
    )
    .action(
      action(async (opts: RunOptions, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        const plan = await planRun({
          ...(opts.pipelinerun !== undefined ? { pipelineRunFile: opts.pipelinerun } : {}),
          ...(opts.pipeline !== undefined ? { pipelineFile: opts.pipeline } : {}),
          ...(opts.pipelineName !== undefined ? { pipelineName: opts.pipelineName } : {}),
          tasksDir: opts.tasks ?? BUNDLED_TASKS,
          pipelinesDir: opts.pipelines ?? BUNDLED_PIPELINES,
          params: opts.param,
          workspaces: opts.workspace,
          ...(opts.timeout !== undefined ? { timeout: opts.timeout } : {}),
        });
        const outcome = await executeRun(plan, opts, config);
        return outcome.succeeded ? ExitCode.ok : ExitCode.failed;
      }),
    );
}

/** How a planned run executes: what `vouch run` and `vouch listen` share. */
export interface ExecuteOptions {
  runDir?: string;
  hostImage: string[];
  allowNetwork: string[];
  sink?: string;
  json?: boolean;
  sandbox: boolean;
  store?: string;
  logData?: string;
  key?: string;
}

/** Runs a planned PipelineRun locally: sinks, the in-process sidecar (--store), the view, Ctrl-C. */
export async function executeRun(plan: Plan, opts: ExecuteOptions, config: VouchConfig): Promise<{ succeeded: boolean; runDir: string }> {
  if (!opts.sandbox) {
    process.stderr.write(
      '\nvouch: WARNING: --no-sandbox: steps run as plain processes with your permissions; they can read and write ' +
        'your files and reach the network. Use only for code you trust.\n\n',
    );
  }
  const runDir = resolve(opts.runDir ?? join('.vouch', 'runs', plan.pipelineRun.metadata.name!));
  const sinks: EventSink[] = [];
  const sinkUrl = opts.sink ?? (config.runner.sink || undefined);
  if (sinkUrl) {
    const token = process.env[config.runner.sinkTokenEnv] || undefined;
    sinks.push(new HttpSink(sinkUrl, token === undefined ? {} : { token }));
  }
  // the embedded path: the sidecar in this process, fed through the same EventSink interface as HTTP
  let inProcess: Awaited<ReturnType<typeof startInProcessSidecar>> | undefined;
  // steps must never read a private key: the signer's, or the embedded log's (its SETs and checkpoints)
  const keyPaths = [config.signing.key, config.tlog.data].filter((p) => p !== '').map((p) => resolve(p));
  if (opts.store !== undefined) {
    const keyFile = opts.key ?? config.signing.key;
    if (keyFile === '') throw new VouchError('USAGE', '--store needs a signing key: --key FILE or signing.key in the config');
    keyPaths.push(resolve(keyFile), resolve(opts.logData ?? config.tlog.data));
    const privateKey = await loadPrivateKey(keyFile, process.env[config.signing.passwordEnv] || undefined);
    // gate evidence is read only from where the run's steps write: its workspaces (bound, or made in the run dir)
    const evidenceRoots = [...Object.values(plan.workspaceDirs).map((d) => resolve(d)), join(runDir, 'workspaces')];
    inProcess = await startInProcessSidecar({ dataDir: config.sidecar.data, storeDir: opts.store, logDir: opts.logData ?? config.tlog.data, privateKey, evidenceRoots, ociEvidence: await ociEvidenceOptions(config) });
    sinks.push(inProcess.sink);
  } else if (opts.logData !== undefined || opts.key !== undefined) {
    throw new VouchError('USAGE', '--log-data and --key go with --store (in-process attestation)');
  }
  const view: RunView = opts.json ? new JsonView() : process.stderr.isTTY ? new TerminalView() : new PlainView();
  const abort = new AbortController();
  const onSignal = (): void => {
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const outcome = await runPipeline({
      pipelineRun: plan.pipelineRun,
      pipeline: plan.validated.pipeline,
      pipelineName: plan.pipelineName,
      ...(plan.validated.pipelineSource ? { pipelineFile: plan.validated.pipelineSource.file } : {}),
      runDir,
      workspaceDirs: plan.workspaceDirs,
      images: { taskImage: config.runner.taskImage, hostImages: [...list(config.runner.hostImages), ...opts.hostImage] },
      allowNetwork: [...list(config.runner.allowNetwork), ...opts.allowNetwork],
      // the host is visible read-only, but not the caller's credentials or the signing key
      sandbox: { enabled: opts.sandbox, hide: defaultHiddenPaths(homedir(), keyPaths) },
      sinks,
      eventFactory: cloudEventFor,
      view,
      ...(view.output ? { onStepOutput: view.output.bind(view) } : {}),
      signal: abort.signal,
    });
    view.close();
    if (!opts.json) {
      const c = outcome.pipelineRun.status?.conditions?.[0];
      process.stderr.write(`pipelinerun ${plan.pipelineRun.metadata.name!}: ${c?.reason ?? '?'}${c?.message ? ` (${c.message})` : ''}; objects and logs in ${runDir}\n`);
      if (outcome.events.failed > 0 || outcome.events.pending > 0) {
        process.stderr.write(`vouch: ${outcome.events.failed + outcome.events.pending} CloudEvent(s) did not reach ${sinkUrl ?? 'the sink'}\n`);
      }
    }
    if (inProcess) {
      await inProcess.sidecar.idle();
      if (!opts.json) process.stderr.write(`attestations of ${plan.pipelineRun.metadata.name!} (if it qualifies) are in ${opts.store!}\n`);
    }
    return { succeeded: outcome.succeeded, runDir };
  } finally {
    await inProcess?.close();
    view.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
