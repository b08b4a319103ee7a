import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { loadPrivateKey } from '../attest/keys.ts';
import type { VouchConfig } from '../common/config.ts';
import { VouchError, errorMessage } from '../common/errors.ts';
import { dockerConfigCredentials } from '../common/oci/dockerconfig.ts';
import type { RegistryCredentials } from '../common/oci/registry.ts';
import { KubeClient } from '../kube/client.ts';
import { createStore } from '../store/index.ts';
import { LocalStore } from '../store/local.ts';
import type { AttestationStore } from '../store/types.ts';
import { EmbeddedLog } from '../tlog/log.ts';
import { serveSidecar, type RunningServer } from './server.ts';
import { Sidecar, type SidecarOptions } from './sidecar.ts';
import { ApprovalDesk, loadReviewerKeys } from './approvals.ts';

// The sidecar room: Tekton CloudEvents in, signed, logged, verified and stored SLSA provenance out.
//
//   const running = await startSidecar(config)            // `vouch sidecar`: HTTP ingest on sidecar.listen
//   running.url; await running.close()                     // close: stop taking events, finish work in progress
//   const { sink, sidecar, close } = await startInProcessSidecar({ dataDir, storeDir, logDir, privateKey })
//       // `vouch run --store DIR --log-data DIR --key KEY`: `sink` is an EventSink (runner/events.ts) for the
//       // runner's EventQueue; `await sidecar.idle()` waits until every finished PipelineRun is attested.
//
// Files: sidecar.ts (inbox + queue on the journal, processing), correlate.ts (which events make a PipelineRun
// ready), server.ts (HTTP: /events, /healthz, /readyz, /metrics), metrics.ts.
// Modes: `local` (default) accepts only requests with the runner's bearer token (sidecar.tokenEnv); `cluster`
// re-reads the PipelineRun and its TaskRuns from the API server (config `kube`) before attesting and attests those;
// a payload that disagrees is logged as suspected forgery and not attested: the run's events are discarded (not the
// run: a forger must not be able to suppress a real run's attestation) and the reconcile attests the API's objects. Stores: config `store.backends`
// (createStore; the local one in sidecar.store). Cluster mode also reconciles every sidecar.reconcileSeconds: finished
// PipelineRuns in kube.namespace that were never attested (Tekton dropped their events) are attested then.
// Attested: PipelineRuns that succeeded (failed ones too with sidecar.attestFailedRuns), once every TaskRun in
// their childReferences is terminal; standalone TaskRuns are not attested.

export { Sidecar, type SidecarOptions, type IngestOutcome } from './sidecar.ts';
export { serveSidecar, sidecarApp, type ServeOptions, type RunningServer } from './server.ts';
export { ApprovalDesk, approvalsRouter, loadReviewerKeys, type ApprovalRecord, type ApprovalDeskOptions } from './approvals.ts';

export interface RunningSidecar {
  url: string;
  sidecar: Sidecar;
  close(): Promise<void>;
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new VouchError('CONFIG_INVALID', `sidecar.listen ${JSON.stringify(listen)} is not HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

async function openTlog(config: VouchConfig): Promise<{ tlog: SidecarOptions['tlog']; close: () => Promise<void> }> {
  if (config.tlog.url === '') {
    const embedded = await EmbeddedLog.open(config.tlog.data);
    return { tlog: { embedded }, close: () => embedded.close() };
  }
  if (config.sidecar.tlogTrustedRoot === '') {
    throw new VouchError('CONFIG_INVALID', 'tlog.url is set: sidecar.tlogTrustedRoot must name the log\'s trusted_root.json (bundles are verified before they are stored)');
  }
  let trustedRoot: unknown;
  try {
    trustedRoot = JSON.parse(await readFile(config.sidecar.tlogTrustedRoot, 'utf8'));
  } catch (err) {
    throw new VouchError('CONFIG_INVALID', `cannot read sidecar.tlogTrustedRoot ${config.sidecar.tlogTrustedRoot}: ${errorMessage(err)}`);
  }
  return { tlog: { url: config.tlog.url, trustedRoot }, close: () => Promise.resolve() };
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new VouchError('CONFIG_INVALID', `sidecar.${name} must be a positive number, got ${v}`);
  return v;
}

/**
 * `sidecar.evidenceRepositories` and the credentials `sidecar.evidenceDockerConfig` holds for their registries, read
 * once at start so that a broken credentials file stops the sidecar instead of every evidence fetch.
 */
export async function ociEvidenceOptions(config: VouchConfig): Promise<OciEvidenceOptions> {
  const repositories = config.sidecar.evidenceRepositories.split(',').map((r) => r.trim()).filter((r) => r !== '');
  const registryCredentials: Record<string, RegistryCredentials> = {};
  if (config.sidecar.evidenceDockerConfig !== '') {
    for (const registry of new Set(repositories.map((r) => r.split('/')[0]!))) {
      const credentials = await dockerConfigCredentials(config.sidecar.evidenceDockerConfig, registry);
      if (credentials) registryCredentials[registry] = credentials;
    }
  }
  return { repositories, registryCredentials, waitMs: positive('evidenceWaitSeconds', config.sidecar.evidenceWaitSeconds) * 1000, registryTimeoutMs: config.store.ociTimeoutSeconds * 1000 };
}

/** The `oci://` half of SidecarOptions.evidence. */
export type OciEvidenceOptions = Required<Pick<NonNullable<SidecarOptions['evidence']>, 'repositories' | 'registryCredentials' | 'waitMs' | 'registryTimeoutMs'>>;

/** Starts `vouch sidecar` from config: key, log, store, journal, HTTP server. */
export async function startSidecar(config: VouchConfig, env: NodeJS.ProcessEnv = process.env): Promise<RunningSidecar> {
  const sc = config.sidecar;
  // local: the token is what makes an event trustworthy. cluster: Tekton sends no credentials; the API server is the
  // source of truth (a token, when set, is still required: e.g. behind a proxy that adds it)
  const token = env[sc.tokenEnv] || undefined;
  if (sc.mode === 'local' && !token) throw new VouchError('CONFIG_INVALID', `local mode needs the runner's bearer token in the environment variable ${sc.tokenEnv} (sidecar.tokenEnv)`);
  // POST /approvals is open to anyone who reaches the Service without a token: with neither, anyone could fill the log
  // and the approvals directory (the gate's reading is bounded) with self-signed statements
  if (sc.mode === 'cluster' && !token && sc.reviewerKeys === '') throw new VouchError('CONFIG_INVALID', `cluster mode needs sidecar.reviewerKeys (a directory of the reviewers' public keys, the only keys POST /approvals accepts) or a bearer token in the environment variable ${sc.tokenEnv} (sidecar.tokenEnv)`);
  const apiServer =
    sc.mode === 'cluster'
      ? KubeClient.load({
          ...(config.kube.kubeconfig ? { kubeconfig: config.kube.kubeconfig } : {}),
          ...(config.kube.context ? { context: config.kube.context } : {}),
          timeoutMs: config.kube.timeoutSeconds * 1000,
        })
      : undefined;
  if (config.signing.key === '') throw new VouchError('CONFIG_INVALID', 'signing.key must name the PKCS#8 PEM key the sidecar signs with');
  const { host, port } = parseListen(sc.listen);
  const privateKey = await loadPrivateKey(config.signing.key, env[config.signing.passwordEnv] || undefined);
  const { tlog, close: closeTlog } = await openTlog(config);
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.open({
      dataDir: sc.data,
      privateKey,
      store: createStore(config, { localDir: sc.store, env, ...(apiServer ? { kube: apiServer } : {}) }),
      tlog,
      ...(apiServer ? { apiServer, reconcile: { namespace: config.kube.namespace, everyMs: positive('reconcileSeconds', sc.reconcileSeconds) * 1000 } } : {}),
      attestFailedRuns: sc.attestFailedRuns,
      maxWaitingRuns: positive('maxWaitingRuns', sc.maxWaitingRuns),
      maxWaitingEvents: positive('maxWaitingEvents', sc.maxWaitingEvents),
      maxWaitingMs: positive('maxWaitingSeconds', sc.maxWaitingSeconds) * 1000,
      maxQueue: positive('maxQueue', sc.maxQueue),
      evidence: {
        roots: sc.evidenceRoots.split(',').filter((r) => r !== ''),
        maxBytes: positive('maxEvidenceBytes', sc.maxEvidenceBytes),
        ...(await ociEvidenceOptions(config)),
      },
    });
  } catch (err) {
    await closeTlog();
    throw err;
  }
  let server: RunningServer;
  try {
    const approvals = new ApprovalDesk({ dataDir: sc.data, tlog, ...(sc.reviewerKeys ? { reviewerKeys: await loadReviewerKeys(sc.reviewerKeys) } : {}) });
    server = await serveSidecar(sidecar, host, port, { ...(token ? { token } : {}), approvals });
  } catch (err) {
    await sidecar.close();
    await closeTlog();
    throw new VouchError('IO', `cannot listen on ${sc.listen}: ${errorMessage(err)}`, { cause: err });
  }
  return {
    url: server.url,
    sidecar,
    close: async () => {
      await server.close();
      await sidecar.close();
      await closeTlog();
    },
  };
}

export interface InProcessSidecarOptions {
  /** journal directory */
  dataDir: string;
  /** local attestation store directory */
  storeDir: string;
  /** embedded log data directory */
  logDir: string;
  privateKey: KeyObject;
  attestFailedRuns?: boolean;
  store?: AttestationStore;
  /** directories gate evidence files are read from (`vouch run`: the run's workspace directories) */
  evidenceRoots?: readonly string[];
  /** `oci://` gate evidence: allowed repositories and registry credentials (ociEvidenceOptions) */
  ociEvidence?: OciEvidenceOptions;
}

/** A sidecar in this process with the embedded log, for `vouch run --store --log-data --key`. */
export async function startInProcessSidecar(options: InProcessSidecarOptions): Promise<{ sink: Sidecar['sink']; sidecar: Sidecar; log: EmbeddedLog; close(): Promise<void> }> {
  const log = await EmbeddedLog.open(options.logDir);
  let sidecar: Sidecar;
  try {
    sidecar = await Sidecar.open({
      dataDir: options.dataDir,
      privateKey: options.privateKey,
      store: options.store ?? new LocalStore(options.storeDir),
      tlog: { embedded: log },
      attestFailedRuns: options.attestFailedRuns ?? false,
      evidence: { roots: options.evidenceRoots ?? [], ...options.ociEvidence },
    });
  } catch (err) {
    await log.close();
    throw err;
  }
  return {
    sink: sidecar.sink,
    sidecar,
    log,
    close: async () => {
      await sidecar.close();
      await log.close();
    },
  };
}
