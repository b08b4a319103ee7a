import { existsSync } from 'node:fs';
import { CoreV1Api, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { errorMessage, VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';

// The thin Kubernetes layer: Tekton objects (tekton.dev/v1) through @kubernetes/client-node's CustomObjectsApi, with
// every failure turned into one VouchError code (KUBE_NOT_FOUND, KUBE_FORBIDDEN, KUBE_UNAVAILABLE, KUBE_REJECTED).
// Objects come back as plain JSON, exactly as the API server sent them: interpreting them is src/tekton's job.

export const TEKTON_GROUP = 'tekton.dev';
export const TEKTON_VERSION = 'v1';

export type TektonRunKind = 'TaskRun' | 'PipelineRun';

const PLURAL: Record<TektonRunKind, string> = { TaskRun: 'taskruns', PipelineRun: 'pipelineruns' };

/** A Kubernetes object as JSON; metadata is what this layer reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string> } & Record<string, unknown>;
  [key: string]: unknown;
}

export interface KubeClientOptions {
  /** kubeconfig file; empty: in-cluster config when running in a pod, else $KUBECONFIG or ~/.kube/config */
  kubeconfig?: string;
  /** kubeconfig context; empty: the current context */
  context?: string;
  /** per request, ms (default 30 s) */
  timeoutMs?: number;
}

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Loads a kubeconfig as kubectl would, refusing to fall back silently to an unauthenticated localhost:8080. */
export function loadKubeConfig(options: KubeClientOptions = {}, env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) {
      if (!existsSync(options.kubeconfig)) throw new VouchError('KUBE_CONFIG_INVALID', `kubeconfig ${options.kubeconfig} does not exist`);
      kc.loadFromFile(options.kubeconfig);
    } else if (env['KUBERNETES_SERVICE_HOST'] && existsSync(SERVICE_ACCOUNT_TOKEN)) {
      kc.loadFromCluster();
    } else {
      const file = env['KUBECONFIG']?.split(':').find((f) => f !== '' && existsSync(f)) ?? (env['HOME'] ? `${env['HOME']}/.kube/config` : '');
      if (!file || !existsSync(file)) {
        throw new VouchError('KUBE_CONFIG_INVALID', 'no Kubernetes configuration: not in a pod, no kube.kubeconfig setting, no $KUBECONFIG, no ~/.kube/config');
      }
      kc.loadFromFile(file);
    }
    if (options.context) kc.setCurrentContext(options.context);
  } catch (err) {
    if (err instanceof VouchError) throw err;
    throw new VouchError('KUBE_CONFIG_INVALID', `cannot load the Kubernetes configuration${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${errorMessage(err)}`, { cause: err });
  }
  if (options.context && !kc.getContexts().some((c) => c.name === options.context)) {
    throw new VouchError('KUBE_CONFIG_INVALID', `kubeconfig has no context ${JSON.stringify(options.context)}`);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) throw new VouchError('KUBE_CONFIG_INVALID', 'the Kubernetes configuration names no cluster server for the current context');
  return kc;
}

export class KubeClient {
  readonly server: string;
  private readonly api: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly timeoutMs: number;
  private readonly log = logger('kube');

  constructor(kc: KubeConfig, options: { timeoutMs?: number } = {}) {
    this.server = kc.getCurrentCluster()?.server ?? '';
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  static load(options: KubeClientOptions = {}): KubeClient {
    return new KubeClient(loadKubeConfig(options), options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  }

  async getTaskRun(namespace: string, name: string): Promise<KubeObject> {
    return this.getRun('TaskRun', namespace, name);
  }

  async getPipelineRun(namespace: string, name: string): Promise<KubeObject> {
    return this.getRun('PipelineRun', namespace, name);
  }

  async getRun(kind: TektonRunKind, namespace: string, name: string): Promise<KubeObject> {
    checkName(namespace, 'namespace');
    checkName(name, `${kind} name`);
    const what = `${kind} ${namespace}/${name}`;
    const obj = await this.call(what, () =>
      this.api.getNamespacedCustomObject({ group: TEKTON_GROUP, version: TEKTON_VERSION, namespace, plural: PLURAL[kind], name }) as Promise<unknown>,
    );
    return checkObject(obj, what);
  }

  /** PipelineRuns of a namespace (all pages), optionally by label selector (e.g. for the periodic reconcile). */
  async listPipelineRuns(namespace: string, options: { labelSelector?: string } = {}): Promise<KubeObject[]> {
    return this.listRuns('PipelineRun', namespace, options);
  }

  async listTaskRuns(namespace: string, options: { labelSelector?: string } = {}): Promise<KubeObject[]> {
    return this.listRuns('TaskRun', namespace, options);
  }

  async listRuns(kind: TektonRunKind, namespace: string, options: { labelSelector?: string } = {}): Promise<KubeObject[]> {
    checkName(namespace, 'namespace');
    const what = `${kind}s in ${namespace}${options.labelSelector ? ` (${options.labelSelector})` : ''}`;
    const items: KubeObject[] = [];
    let cont: string | undefined;
    do {
      const page = (await this.call(what, () =>
        this.api.listNamespacedCustomObject({
          group: TEKTON_GROUP,
          version: TEKTON_VERSION,
          namespace,
          plural: PLURAL[kind],
          limit: 500,
          ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
          ...(cont ? { _continue: cont } : {}),
        }) as Promise<unknown>,
      )) as { items?: unknown; metadata?: { continue?: string } } | null;
      if (!page || !Array.isArray(page.items)) throw new VouchError('KUBE_REJECTED', `listing ${what}: the API server did not answer a list`);
      for (const item of page.items) items.push(checkObject(item, `an item of ${what}`));
      cont = page.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  /**
   * Sets (or, with null, removes) annotations with a JSON merge patch (application/merge-patch+json), the way Tekton
   * Chains marks runs: `{"metadata":{"annotations":{…}}}`. Other annotations are left alone. Returns the patched object.
   */
  async patchAnnotations(kind: TektonRunKind, namespace: string, name: string, annotations: Record<string, string | null>): Promise<KubeObject> {
    checkName(namespace, 'namespace');
    checkName(name, `${kind} name`);
    for (const [k, v] of Object.entries(annotations)) {
      if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(k)) throw new VouchError('KUBE_REJECTED', `not a valid annotation key: ${JSON.stringify(k)}`);
      if (v !== null && typeof v !== 'string') throw new VouchError('KUBE_REJECTED', `annotation ${k} must be a string or null`);
    }
    const what = `${kind} ${namespace}/${name}`;
    const body = { metadata: { annotations } };
    const obj = await this.call(what, () =>
      this.api.patchNamespacedCustomObject(
        { group: TEKTON_GROUP, version: TEKTON_VERSION, namespace, plural: PLURAL[kind], name, body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ) as Promise<unknown>,
    );
    return checkObject(obj, what);
  }

  /** A Secret (admission: image pull secrets). Its data stays base64, as the API server sends it; never log it. */
  async getSecret(namespace: string, name: string): Promise<{ type?: string; data?: Record<string, string> }> {
    checkName(namespace, 'namespace');
    checkName(name, 'Secret name');
    const s = (await this.call(`Secret ${namespace}/${name}`, () => this.core.readNamespacedSecret({ namespace, name }))) as { type?: string; data?: Record<string, string> };
    return { ...(s.type !== undefined ? { type: s.type } : {}), ...(s.data !== undefined ? { data: s.data } : {}) };
  }

  /** The names of a ServiceAccount's imagePullSecrets. */
  async getServiceAccountPullSecrets(namespace: string, name: string): Promise<string[]> {
    checkName(namespace, 'namespace');
    checkName(name, 'ServiceAccount name');
    const sa = (await this.call(`ServiceAccount ${namespace}/${name}`, () => this.core.readNamespacedServiceAccount({ namespace, name }))) as { imagePullSecrets?: { name?: string }[] };
    return (sa.imagePullSecrets ?? []).map((r) => r.name ?? '').filter((n) => n !== '');
  }

  private async call(what: string, fn: () => Promise<unknown>): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new VouchError('KUBE_UNAVAILABLE', `${what}: the API server ${this.server} did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } catch (err) {
      throw this.toError(err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  private toError(err: unknown, what: string): VouchError {
    if (err instanceof VouchError) return err;
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number' && code >= 100) {
      const reason = statusMessage((err as { body?: unknown }).body);
      if (code === 404) return new VouchError('KUBE_NOT_FOUND', `${what} not found on ${this.server}${reason}`, { details: { status: code } });
      if (code === 401) return new VouchError('KUBE_FORBIDDEN', `${what}: the API server ${this.server} did not accept our credentials (401)${reason}: check the kubeconfig or service account token`, { details: { status: code } });
      if (code === 403) return new VouchError('KUBE_FORBIDDEN', `${what}: permission denied (403)${reason}: the service account needs RBAC rights on tekton.dev runs`, { details: { status: code } });
      if (code >= 500 || code === 429) return new VouchError('KUBE_UNAVAILABLE', `${what}: the API server ${this.server} answered ${code}${reason}`, { details: { status: code } });
      return new VouchError('KUBE_REJECTED', `${what}: the API server answered ${code}${reason}`, { details: { status: code } });
    }
    this.log.debug({ what, err: errorMessage(err) }, 'API server request failed');
    return new VouchError('KUBE_UNAVAILABLE', `${what}: the API server ${this.server} is unreachable: ${networkReason(err)}`, { cause: err });
  }
}

function checkName(value: string, what: string): void {
  // DNS-1123 subdomain: what namespaces and object names are; this also keeps "/" and ".." out of request paths
  if (typeof value !== 'string' || value.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(value) || value.includes('..')) {
    throw new VouchError('KUBE_REJECTED', `not a valid ${what}: ${JSON.stringify(value)}`);
  }
}

function checkObject(obj: unknown, what: string): KubeObject {
  const o = obj as Partial<KubeObject> | null;
  if (!o || typeof o !== 'object' || typeof o.metadata?.name !== 'string') throw new VouchError('KUBE_REJECTED', `${what}: the API server answered something that is not an object with metadata.name`);
  return o as KubeObject;
}

function statusMessage(body: unknown): string {
  let b = body;
  if (typeof b === 'string') {
    try {
      b = JSON.parse(b);
    } catch {
      return '';
    }
  }
  const m = (b as { message?: unknown } | null)?.message;
  return typeof m === 'string' && m !== '' ? `: ${m.slice(0, 300)}` : '';
}

function networkReason(err: unknown): string {
  let e: unknown = err;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return errorMessage(err);
}
