import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SHARED } from '../helpers/cli.ts';

// A loopback stand-in for the Kubernetes API server's tekton.dev/v1 endpoints, serving recorded objects (a real
// PipelineRun from a cluster, Chains' TaskRun test input) with the API server's paths, Status errors, bearer-token
// check, label-selector lists with pagination, and JSON merge patch. It records every request for the tests.

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

export const RECORDED_PIPELINERUN = join(SHARED, 'fixtures/ec/hacks-05-slsa-v1.0-tekton-build-type-pipeline-in-cluster/pipelinerun.yaml');
export const RECORDED_TASKRUN = join(SHARED, 'fixtures/chains/unit-inputs/slsa-v2alpha4/taskrun1.json');

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string } } & Record<string, unknown>;

export function recordedPipelineRun(): Obj {
  return parseYaml(readFileSync(RECORDED_PIPELINERUN, 'utf8')) as Obj;
}

export function recordedTaskRun(): Obj {
  const tr = JSON.parse(readFileSync(RECORDED_TASKRUN, 'utf8')) as Obj;
  return { ...tr, apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { ...tr.metadata, namespace: 'default' } };
}

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

export class FakeApiServer {
  readonly token = randomBytes(16).toString('hex');
  readonly requests: SeenRequest[] = [];
  /** plural -> namespace/name -> object */
  readonly objects = new Map<string, Map<string, Obj>>([['pipelineruns', new Map()], ['taskruns', new Map()], ['secrets', new Map()], ['serviceaccounts', new Map()]]);
  /** namespaces where the service account has no rights */
  readonly forbidden = new Set<string>(['locked']);
  /** answer 500 to everything while set */
  failing = false;
  private server: Server | undefined;
  port = 0;

  add(obj: Obj): void {
    const plural = obj.kind === 'PipelineRun' ? 'pipelineruns' : obj.kind === 'Secret' ? 'secrets' : obj.kind === 'ServiceAccount' ? 'serviceaccounts' : 'taskruns';
    this.objects.get(plural)!.set(`${obj.metadata.namespace}/${obj.metadata.name}`, structuredClone(obj));
  }

  get(plural: string, ns: string, name: string): Obj | undefined {
    return this.objects.get(plural)?.get(`${ns}/${name}`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', (): boolean => {
        const url = new URL(req.url ?? '/', this.url);
        this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, headers: req.headers, body });
        // returns true so that handlers can `return send(...)`
        const send = (code: number, text: string): true => {
          res.writeHead(code, { 'content-type': 'application/json' }).end(text);
          return true;
        };
        if (req.headers.authorization !== `Bearer ${this.token}`) return send(401, status(401, 'Unauthorized', 'Unauthorized'));
        if (this.failing) return send(500, status(500, 'InternalError', 'etcdserver: request timed out'));
        // core v1 Secrets and ServiceAccounts (admission reads image pull secrets): GET by name only
        const core = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|serviceaccounts)\/([^/]+)$/.exec(url.pathname);
        if (core && req.method === 'GET') {
          if (this.forbidden.has(core[1]!)) return send(403, status(403, 'Forbidden', `${core[2]!} is forbidden`));
          const found = this.get(core[2]!, core[1]!, core[3]!);
          return found ? send(200, JSON.stringify(found)) : send(404, status(404, 'NotFound', `${core[2]!} "${core[3]!}" not found`));
        }
        const m = /^\/apis\/tekton\.dev\/v1\/namespaces\/([^/]+)\/(pipelineruns|taskruns)(?:\/([^/]+))?$/.exec(url.pathname);
        if (!m) return send(404, status(404, 'NotFound', 'the server could not find the requested resource'));
        const [, ns, plural, name] = m as unknown as [string, string, string, string | undefined];
        if (this.forbidden.has(ns)) {
          return send(403, status(403, 'Forbidden', `${plural}.tekton.dev is forbidden: User "system:serviceaccount:vouch:sidecar" cannot ${req.method === 'GET' ? 'get' : 'patch'} resource "${plural}" in API group "tekton.dev" in the namespace "${ns}"`));
        }
        const store = this.objects.get(plural)!;
        if (name === undefined) {
          if (req.method !== 'GET') return send(405, status(405, 'MethodNotAllowed', 'method not allowed'));
          const selector = url.searchParams.get('labelSelector');
          const wanted = selector ? selector.split(',').map((s) => s.split('=') as [string, string]) : [];
          const all = [...store.values()].filter((o) => o.metadata.namespace === ns && wanted.every(([k, v]) => o.metadata.labels?.[k] === v));
          // two per page, whatever the limit: clients must follow metadata.continue
          const start = Number(url.searchParams.get('continue') ?? '0');
          const page = all.slice(start, start + 2);
          const next = start + 2 < all.length ? String(start + 2) : undefined;
          return send(200, JSON.stringify({ apiVersion: 'tekton.dev/v1', kind: plural === 'pipelineruns' ? 'PipelineRunList' : 'TaskRunList', metadata: { resourceVersion: '1', ...(next ? { continue: next } : {}) }, items: page }));
        }
        const obj = store.get(`${ns}/${name}`);
        if (!obj) return send(404, status(404, 'NotFound', `${plural}.tekton.dev "${name}" not found`));
        if (req.method === 'GET') return send(200, JSON.stringify(obj));
        if (req.method === 'PATCH') {
          if (req.headers['content-type'] !== 'application/merge-patch+json') return send(415, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`));
          let patch: { metadata?: { annotations?: Record<string, string | null> } };
          try {
            patch = JSON.parse(body) as typeof patch;
          } catch {
            return send(400, status(400, 'BadRequest', 'invalid JSON'));
          }
          const changes = patch.metadata?.annotations ?? {};
          const merged = { ...(obj.metadata.annotations ?? {}), ...changes };
          obj.metadata.annotations = Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== null));
          obj.metadata.resourceVersion = String(Number(obj.metadata.resourceVersion ?? '0') + 1);
          return send(200, JSON.stringify(obj));
        }
        return send(405, status(405, 'MethodNotAllowed', 'method not allowed'));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
  }

  /** A kubeconfig pointing at this server over http with token auth. */
  writeKubeconfig(dir: string, options: { token?: string; server?: string } = {}): string {
    const path = join(dir, `kubeconfig-${randomBytes(3).toString('hex')}`);
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: loopback',
        '  cluster:',
        `    server: ${options.server ?? this.url}`,
        // @kubernetes/client-node refuses plain http unless this is set (kubectl ignores it for http)
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: sidecar',
        '  user:',
        `    token: ${options.token ?? this.token}`,
        'contexts:',
        '- name: loopback',
        '  context:',
        '    cluster: loopback',
        '    user: sidecar',
        '    namespace: default',
        'current-context: loopback',
        '',
      ].join('\n'),
    );
    return path;
  }
}
