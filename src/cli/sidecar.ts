import { Command } from 'commander';
import { logger } from '../common/log.ts';
import { startAdmission, type PullSecretSource } from '../admission/index.ts';
import { isVouchError } from '../common/errors.ts';
import { KubeClient } from '../kube/client.ts';
import { startSidecar } from '../sidecar/index.ts';
import { action, out, setup } from './context.ts';

// `vouch sidecar`: the CloudEvents listener that turns Tekton's run events into signed, logged, stored provenance.

export function registerSidecar(program: Command): void {
  program
    .command('sidecar')
    .description('listen for Tekton CloudEvents and attest every finished PipelineRun (until SIGTERM/SIGINT, then drain and exit 0)')
    .option('--listen <host:port>', 'address to listen on (default: config sidecar.listen, 127.0.0.1:8088); port 0 picks a free one')
    .addHelpText(
      'after',
      `
Settings come from the config file (--config or $VOUCH_CONFIG), section "sidecar":
  listen, mode (local, or cluster: runs re-read from the API server of config "kube" before attesting, and a
  reconcile every reconcileSeconds for runs whose events were dropped), tokenEnv (env var holding the runner's bearer token, default VOUCH_SINK_TOKEN),
  data (inbox journal, default .vouch/sidecar), store (attestation directory, default .vouch/attestations),
  attestFailedRuns (default false: only PipelineRuns that succeeded are attested), maxWaitingRuns,
  maxWaitingEvents, maxWaitingSeconds, maxQueue (beyond these bounds new events get 503, which Tekton retries),
  tlogTrustedRoot (trusted_root.json of tlog.url; the embedded log in tlog.data needs none).
It signs with signing.key and logs to tlog.url (the embedded log in tlog.data when empty).

Endpoints: POST /events (Tekton's config-events sink), GET /healthz, /readyz, /metrics (Prometheus).
Every accepted event is on disk before the answer; after a crash, unfinished work resumes on restart and each
PipelineRun is attested exactly once.`,
    )
    .action(
      action(async (opts: { listen?: string }, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        if (opts.listen !== undefined) config.sidecar.listen = opts.listen;
        const running = await startSidecar(config);
        out(`vouch sidecar: listening on ${running.url}`);
        // the admission webhook, when config admission.listen is set (docs/admission.md)
        const pullSecrets = config.admission.listen !== '' && config.sidecar.mode === 'cluster' ? kubePullSecrets(KubeClient.load({ ...(config.kube.kubeconfig ? { kubeconfig: config.kube.kubeconfig } : {}), ...(config.kube.context ? { context: config.kube.context } : {}), timeoutMs: 2000 })) : undefined;
        const admission = await startAdmission(config, pullSecrets ? { pullSecrets } : {}).catch(async (err: unknown) => {
          await running.close();
          throw err;
        });
        if (admission) out(`vouch sidecar: admission webhook on ${admission.url}/admission`);
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals): void => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            logger().info({ signal }, 'sidecar stopping');
            void Promise.all([running.close(), admission?.close()]).then(() => {
              resolve();
            }, (err: unknown) => {
              logger().error({ err }, 'sidecar did not stop cleanly');
              resolve();
            });
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        out('vouch sidecar: stopped; every accepted event is on disk');
        return 0;
      }),
    );
}

/** Image pull secrets read from the API server for the admission webhook (a missing Secret or ServiceAccount is none). */
export function kubePullSecrets(kube: KubeClient): PullSecretSource {
  const missing = (err: unknown): boolean => isVouchError(err) && err.code === 'KUBE_NOT_FOUND';
  return {
    secret: async (namespace, name) => {
      try {
        return await kube.getSecret(namespace, name);
      } catch (err) {
        if (missing(err)) return undefined;
        throw err;
      }
    },
    serviceAccountPullSecrets: async (namespace, name) => {
      try {
        return await kube.getServiceAccountPullSecrets(namespace, name);
      } catch (err) {
        if (missing(err)) return [];
        throw err;
      }
    },
  };
}
