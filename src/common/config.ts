import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { VouchError } from './errors.ts';

// The one config loader. A config file is YAML with one section per room; every setting has a default, may be set
// in the file, and may be overridden by an environment variable (what a Kubernetes Deployment sets most easily).
// Unknown keys are errors (a typo must not silently fall back to a default), reported with file:line.

export interface VouchConfig {
  log: { level: string; format: 'json' | 'pretty' | 'auto' };
  tlog: {
    /** base URL of a Rekor v1 compatible log; empty means the embedded log in `tlog.data` */
    url: string;
    /** data directory of the embedded log */
    data: string;
  };
  signing: {
    /** PKCS#8 PEM private key file */
    key: string;
    /** name of the environment variable that holds the key's password (never the password itself) */
    passwordEnv: string;
  };
  runner: {
    /** image of vouch's own task steps (any tag or digest): such steps run the local vouch CLI */
    taskImage: string;
    /** comma-separated image globs whose steps run with the host's tools inside the sandbox (as --host-image) */
    hostImages: string;
    /** comma-separated pipeline task names whose steps may use the network (as --allow-network) */
    allowNetwork: string;
    /** CloudEvents sink URL (as --sink); empty: no HTTP sink */
    sink: string;
    /** name of the environment variable holding the sink's bearer token (never the token itself) */
    sinkTokenEnv: string;
  };
  /** the CloudEvents sidecar (`vouch sidecar`, src/sidecar); it signs with `signing` and logs to `tlog` */
  sidecar: {
    /** HOST:PORT to listen on (port 0 picks a free one) */
    listen: string;
    /** local: only requests with the runner's bearer token are accepted; cluster: runs are re-read from the API server (config kube) */
    mode: 'local' | 'cluster';
    /** name of the environment variable holding the bearer token the runner sends (never the token itself) */
    tokenEnv: string;
    /** data directory of the durable inbox and work queue */
    data: string;
    /** local attestation store directory */
    store: string;
    /** trusted_root.json of the remote log (tlog.url); not needed for the embedded log */
    tlogTrustedRoot: string;
    /** attest PipelineRuns that finished with Succeeded=False too (default: successful runs only) */
    attestFailedRuns: boolean;
    /** most unfinished runs (and their events) held in memory; beyond it new events get 503 */
    maxWaitingRuns: number;
    /** most events of unfinished runs held (the inbox depth); beyond it new events get 503 */
    maxWaitingEvents: number;
    /** how long events of a run that never finishes (or whose PipelineRun never shows up) are kept, in seconds */
    maxWaitingSeconds: number;
    /** most attestations waiting to be signed, logged and stored; beyond it new events get 503 */
    maxQueue: number;
    /** cluster mode: list PipelineRuns (namespace kube.namespace) this often to attest finished ones whose events were dropped */
    reconcileSeconds: number;
    /** comma-separated directories gate evidence files (`*_EVIDENCE` results) are read from, nowhere else; empty: none */
    evidenceRoots: string;
    /** largest gate evidence file read, in bytes */
    maxEvidenceBytes: number;
    /** comma-separated registry/repository entries `oci://` gate evidence is fetched from (exact match), nowhere else; empty: none (docs/evidence.md) */
    evidenceRepositories: string;
    /** directory holding a Docker config.json with credentials for those registries; empty: anonymous */
    evidenceDockerConfig: string;
    /** how long a run waits for an evidence registry that cannot answer before that evidence is refused as unavailable */
    evidenceWaitSeconds: number;
    /** directory of reviewers' PEM public keys (*.pub, *.pem) allowed to submit approvals; empty: any key whose signature verifies */
    reviewerKeys: string;
  };
  /** the Kubernetes API server (src/kube): the sidecar re-reads runs there in cluster mode */
  kube: {
    /** kubeconfig file; empty: in-cluster config in a pod, else $KUBECONFIG or ~/.kube/config */
    kubeconfig: string;
    /** kubeconfig context; empty: its current context */
    context: string;
    /** namespace whose PipelineRuns are reconciled */
    namespace: string;
    /** per API request */
    timeoutSeconds: number;
  };
  /** attestation storage backends (src/store) */
  store: {
    /** comma-separated backends attestations are written to: local (directory sidecar.store), oci, tekton */
    backends: string;
    /** OCI: registry/repository that holds every sha256-<hex>.att/.sig tag; empty: each image's own repository */
    ociRepository: string;
    /** names of the environment variables holding the registry username and password (never the values) */
    ociUsernameEnv: string;
    ociPasswordEnv: string;
    /** per registry request */
    ociTimeoutSeconds: number;
  };
  /** `vouch listen`: the local GitHub webhook sink (pipelines/triggers/) */
  listen: {
    /** HOST:PORT to listen on (port 0 picks a free one) */
    address: string;
    /** name of the environment variable holding the webhook secret the EventListener's secretRef names (never the secret itself) */
    secretEnv: string;
  };
  /** the admission webhook (src/admission), served by `vouch sidecar` when listen is set; docs/admission.md */
  admission: {
    /** HOST:PORT of the HTTPS listener for POST /admission; empty: no webhook */
    listen: string;
    /** PEM certificate and key files of the listener */
    tlsCert: string;
    tlsKey: string;
    /** how often the certificate and key files are looked at for a renewed pair (0: read at start only) */
    tlsReloadSeconds: number;
    /** the AdmissionPolicy file (YAML; several documents or a ConfigMap) */
    policy: string;
    /** comma-separated directories of approval bundles */
    approvals: string;
    /** trusted_root.json of the log the attestations are in; empty: the embedded log in tlog.data */
    trustedRoot: string;
    /** what an image no policy covers gets: deny or allow */
    noMatch: 'deny' | 'allow';
    /** the webhook answers within this many milliseconds (the API server's timeoutSeconds must be larger) */
    budgetMs: number;
    /** per registry request when resolving tags */
    registryTimeoutMs: number;
    cacheTtlSeconds: number;
    cacheMaxEntries: number;
    /** append-only JSON-lines log of admission decisions; empty: none */
    auditLog: string;
    /** accept a fresh, valid VSA signed by a policy key instead of re-evaluating */
    acceptVsa: boolean;
  };
}

type Kind = 'string' | 'number' | 'boolean';
interface Setting {
  kind: Kind;
  env: string;
  oneOf?: readonly string[];
  /** resolve relative paths against the config file's folder */
  path?: boolean;
  /** a comma-separated list of paths, each resolved like `path` */
  pathList?: boolean;
}

// Each section of VouchConfig, its settings, their kinds and environment overrides. Add new sections here.
const SCHEMA: Record<string, Record<string, Setting>> = {
  log: {
    level: { kind: 'string', env: 'VOUCH_LOG_LEVEL', oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    format: { kind: 'string', env: 'VOUCH_LOG_FORMAT', oneOf: ['json', 'pretty', 'auto'] },
  },
  tlog: {
    url: { kind: 'string', env: 'VOUCH_REKOR_URL' },
    data: { kind: 'string', env: 'VOUCH_TLOG_DATA', path: true },
  },
  signing: {
    key: { kind: 'string', env: 'VOUCH_SIGNING_KEY', path: true },
    passwordEnv: { kind: 'string', env: 'VOUCH_SIGNING_PASSWORD_ENV' },
  },
  runner: {
    taskImage: { kind: 'string', env: 'VOUCH_TASK_IMAGE' },
    hostImages: { kind: 'string', env: 'VOUCH_HOST_IMAGES' },
    allowNetwork: { kind: 'string', env: 'VOUCH_ALLOW_NETWORK' },
    sink: { kind: 'string', env: 'VOUCH_SINK' },
    sinkTokenEnv: { kind: 'string', env: 'VOUCH_SINK_TOKEN_ENV' },
  },
  sidecar: {
    listen: { kind: 'string', env: 'VOUCH_SIDECAR_LISTEN' },
    mode: { kind: 'string', env: 'VOUCH_SIDECAR_MODE', oneOf: ['local', 'cluster'] },
    tokenEnv: { kind: 'string', env: 'VOUCH_SIDECAR_TOKEN_ENV' },
    data: { kind: 'string', env: 'VOUCH_SIDECAR_DATA', path: true },
    store: { kind: 'string', env: 'VOUCH_SIDECAR_STORE', path: true },
    tlogTrustedRoot: { kind: 'string', env: 'VOUCH_SIDECAR_TLOG_TRUSTED_ROOT', path: true },
    attestFailedRuns: { kind: 'boolean', env: 'VOUCH_SIDECAR_ATTEST_FAILED_RUNS' },
    maxWaitingRuns: { kind: 'number', env: 'VOUCH_SIDECAR_MAX_WAITING_RUNS' },
    maxWaitingEvents: { kind: 'number', env: 'VOUCH_SIDECAR_MAX_WAITING_EVENTS' },
    maxWaitingSeconds: { kind: 'number', env: 'VOUCH_SIDECAR_MAX_WAITING_SECONDS' },
    maxQueue: { kind: 'number', env: 'VOUCH_SIDECAR_MAX_QUEUE' },
    reconcileSeconds: { kind: 'number', env: 'VOUCH_SIDECAR_RECONCILE_SECONDS' },
    evidenceRoots: { kind: 'string', env: 'VOUCH_SIDECAR_EVIDENCE_ROOTS', pathList: true },
    maxEvidenceBytes: { kind: 'number', env: 'VOUCH_SIDECAR_MAX_EVIDENCE_BYTES' },
    evidenceRepositories: { kind: 'string', env: 'VOUCH_SIDECAR_EVIDENCE_REPOSITORIES' },
    evidenceDockerConfig: { kind: 'string', env: 'VOUCH_SIDECAR_EVIDENCE_DOCKER_CONFIG', path: true },
    evidenceWaitSeconds: { kind: 'number', env: 'VOUCH_SIDECAR_EVIDENCE_WAIT_SECONDS' },
    reviewerKeys: { kind: 'string', env: 'VOUCH_SIDECAR_REVIEWER_KEYS', path: true },
  },
  kube: {
    kubeconfig: { kind: 'string', env: 'VOUCH_KUBECONFIG', path: true },
    context: { kind: 'string', env: 'VOUCH_KUBE_CONTEXT' },
    namespace: { kind: 'string', env: 'VOUCH_KUBE_NAMESPACE' },
    timeoutSeconds: { kind: 'number', env: 'VOUCH_KUBE_TIMEOUT_SECONDS' },
  },
  store: {
    backends: { kind: 'string', env: 'VOUCH_STORE_BACKENDS' },
    ociRepository: { kind: 'string', env: 'VOUCH_STORE_OCI_REPOSITORY' },
    ociUsernameEnv: { kind: 'string', env: 'VOUCH_STORE_OCI_USERNAME_ENV' },
    ociPasswordEnv: { kind: 'string', env: 'VOUCH_STORE_OCI_PASSWORD_ENV' },
    ociTimeoutSeconds: { kind: 'number', env: 'VOUCH_STORE_OCI_TIMEOUT_SECONDS' },
  },
  listen: {
    address: { kind: 'string', env: 'VOUCH_LISTEN_ADDRESS' },
    secretEnv: { kind: 'string', env: 'VOUCH_LISTEN_SECRET_ENV' },
  },
  admission: {
    listen: { kind: 'string', env: 'VOUCH_ADMISSION_LISTEN' },
    tlsCert: { kind: 'string', env: 'VOUCH_ADMISSION_TLS_CERT', path: true },
    tlsKey: { kind: 'string', env: 'VOUCH_ADMISSION_TLS_KEY', path: true },
    tlsReloadSeconds: { kind: 'number', env: 'VOUCH_ADMISSION_TLS_RELOAD_SECONDS' },
    policy: { kind: 'string', env: 'VOUCH_ADMISSION_POLICY', path: true },
    approvals: { kind: 'string', env: 'VOUCH_ADMISSION_APPROVALS' },
    trustedRoot: { kind: 'string', env: 'VOUCH_ADMISSION_TRUSTED_ROOT', path: true },
    noMatch: { kind: 'string', env: 'VOUCH_ADMISSION_NO_MATCH', oneOf: ['deny', 'allow'] },
    budgetMs: { kind: 'number', env: 'VOUCH_ADMISSION_BUDGET_MS' },
    registryTimeoutMs: { kind: 'number', env: 'VOUCH_ADMISSION_REGISTRY_TIMEOUT_MS' },
    cacheTtlSeconds: { kind: 'number', env: 'VOUCH_ADMISSION_CACHE_TTL_SECONDS' },
    cacheMaxEntries: { kind: 'number', env: 'VOUCH_ADMISSION_CACHE_MAX_ENTRIES' },
    auditLog: { kind: 'string', env: 'VOUCH_ADMISSION_AUDIT_LOG', path: true },
    acceptVsa: { kind: 'boolean', env: 'VOUCH_ADMISSION_ACCEPT_VSA' },
  },
};

export function defaultConfig(): VouchConfig {
  return {
    log: { level: 'info', format: 'auto' },
    tlog: { url: '', data: '.vouch/tlog' },
    signing: { key: '', passwordEnv: 'VOUCH_KEY_PASSWORD' },
    runner: { taskImage: 'ghcr.io/vouch-dev/vouch', hostImages: '', allowNetwork: '', sink: '', sinkTokenEnv: 'VOUCH_SINK_TOKEN' },
    sidecar: {
      listen: '127.0.0.1:8088',
      mode: 'local',
      tokenEnv: 'VOUCH_SINK_TOKEN',
      data: '.vouch/sidecar',
      store: '.vouch/attestations',
      tlogTrustedRoot: '',
      attestFailedRuns: false,
      maxWaitingRuns: 10_000,
      maxWaitingEvents: 100_000,
      maxWaitingSeconds: 3600,
      maxQueue: 10_000,
      reconcileSeconds: 300,
      evidenceRoots: '',
      maxEvidenceBytes: 16 * 1024 * 1024,
      evidenceRepositories: '',
      evidenceDockerConfig: '',
      evidenceWaitSeconds: 3600,
      reviewerKeys: '',
    },
    kube: { kubeconfig: '', context: '', namespace: 'default', timeoutSeconds: 30 },
    store: { backends: 'local', ociRepository: '', ociUsernameEnv: 'VOUCH_REGISTRY_USERNAME', ociPasswordEnv: 'VOUCH_REGISTRY_PASSWORD', ociTimeoutSeconds: 30 },
    listen: { address: '127.0.0.1:8080', secretEnv: 'VOUCH_WEBHOOK_SECRET' },
    admission: {
      listen: '',
      tlsCert: '',
      tlsKey: '',
      tlsReloadSeconds: 60,
      policy: '',
      approvals: '',
      trustedRoot: '',
      noMatch: 'deny',
      budgetMs: 5000,
      registryTimeoutMs: 3000,
      cacheTtlSeconds: 300,
      cacheMaxEntries: 10_000,
      auditLog: '.vouch/admission-audit.jsonl',
      acceptVsa: true,
    },
  };
}

export interface LoadConfigOptions {
  /** config file; when absent, $VOUCH_CONFIG, else defaults only */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export function loadConfig(options: LoadConfigOptions = {}): VouchConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env['VOUCH_CONFIG'];
  const config = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  if (file) applyFile(config, file);
  applyEnv(config, env);
  return config as unknown as VouchConfig;
}

function applyFile(config: Record<string, Record<string, unknown>>, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VouchError('CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const where = (offset: number | undefined): string => {
    if (offset === undefined) return file;
    const pos = lines.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new VouchError('CONFIG_INVALID', `${where(e.pos[0])}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const data: unknown = doc.toJS();
  if (data === null || data === undefined) return;
  if (typeof data !== 'object' || Array.isArray(data)) throw new VouchError('CONFIG_INVALID', `${file}: the config must be a mapping of sections`);
  const baseDir = dirname(resolve(file));
  for (const [section, values] of Object.entries(data as Record<string, unknown>)) {
    const sectionSchema = SCHEMA[section];
    const at = where(rangeOf(doc, [section]));
    if (!sectionSchema) {
      throw new VouchError('CONFIG_INVALID', `${at}: unknown section "${section}" (known: ${Object.keys(SCHEMA).join(', ')})`);
    }
    if (values === null) continue;
    if (typeof values !== 'object' || Array.isArray(values)) throw new VouchError('CONFIG_INVALID', `${at}: section "${section}" must be a mapping`);
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      const setting = sectionSchema[key];
      const keyAt = where(rangeOf(doc, [section, key]));
      if (!setting) {
        throw new VouchError('CONFIG_INVALID', `${keyAt}: unknown setting "${section}.${key}" (known: ${Object.keys(sectionSchema).join(', ')})`);
      }
      config[section]![key] = check(setting, value, `${keyAt}: ${section}.${key}`, baseDir);
    }
  }
}

function applyEnv(config: Record<string, Record<string, unknown>>, env: NodeJS.ProcessEnv): void {
  for (const [section, settings] of Object.entries(SCHEMA)) {
    for (const [key, setting] of Object.entries(settings)) {
      const raw = env[setting.env];
      if (raw === undefined || raw === '') continue;
      const value = setting.kind === 'number' ? Number(raw) : setting.kind === 'boolean' ? parseBool(raw, setting.env) : raw;
      config[section]![key] = check(setting, value, `environment variable ${setting.env}`, process.cwd());
    }
  }
}

function check(setting: Setting, value: unknown, where: string, baseDir: string): unknown {
  if (typeof value !== setting.kind || (setting.kind === 'number' && !Number.isFinite(value))) {
    throw new VouchError('CONFIG_INVALID', `${where} must be a ${setting.kind}, got ${JSON.stringify(value)}`);
  }
  if (setting.oneOf && !setting.oneOf.includes(value as string)) {
    throw new VouchError('CONFIG_INVALID', `${where} must be one of ${setting.oneOf.join(', ')}, got ${JSON.stringify(value)}`);
  }
  if (setting.path && typeof value === 'string' && value !== '') return resolve(baseDir, value);
  if (setting.pathList && typeof value === 'string') return value.split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => resolve(baseDir, p)).join(',');
  return value;
}

function parseBool(raw: string, name: string): boolean {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new VouchError('CONFIG_INVALID', `environment variable ${name} must be true or false, got ${JSON.stringify(raw)}`);
}

function rangeOf(doc: ReturnType<typeof parseDocument>, path: string[]): number | undefined {
  // the key node's position is what a user looks for
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const segment of path) {
    const items = (node as { items?: { key: { value?: unknown; range?: [number, number, number] }; value: unknown }[] } | null)?.items;
    const pair = items?.find((p) => p.key?.value === segment);
    if (!pair) return offset;
    offset = pair.key.range?.[0];
    node = pair.value;
  }
  return offset;
}
