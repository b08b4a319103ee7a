// The validating admission webhook: `POST /admission` over HTTPS, admission.k8s.io/v1 AdmissionReview in and out
// (https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/). Every image of every
// pod carrier is judged by the engine; the answer comes within the budget (well under the API server's
// timeoutSeconds) or it is a denial (fail closed). dryRun requests are judged the same and leave no trace.

import { open } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage, VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import type { AdmissionEngine, ImageVerdict } from './engine.ts';
import { distinctImages, imagesOf, podSpecOf, type ImageUse } from './images.ts';
import { pullCredentials, type PullSecretSource } from './credentials.ts';
import { parseImageReference } from '../store/index.ts';
import type { RegistryCredentials } from '../common/oci/registry.ts';
import { secureContextOptions, TlsFileWatch, type TlsFiles, type TlsPair } from './tls-files.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
/** larger objects are refused before parsing (the API server's own request limit is 3 MiB) */
export const MAX_REVIEW_BYTES = 4 * 1024 * 1024;
/** Kubernetes keeps warnings short: longer ones are cut */
const MAX_WARNING_CHARS = 120;
const MAX_WARNINGS = 20;
const MAX_MESSAGE_CHARS = 8 * 1024;

export interface BreakGlassRecord {
  reason: string;
  uid: string;
  namespace: string;
  kind: string;
  name: string;
  user: string;
  images: { image: string; digest: string; reasons: string[] }[];
}

export interface WebhookOptions {
  engine: AdmissionEngine;
  /** answer within this many ms (default 5000: the webhook's timeoutSeconds is 10, and a break-glass must still be logged after it) */
  budgetMs?: number;
  /** the annotation that admits a denied object (its value: the reason and ticket) */
  breakGlassAnnotation?: string;
  /** logs a break-glass to the transparency log; must resolve before the object is admitted */
  logBreakGlass?: (record: BreakGlassRecord) => Promise<{ logIndex: string; url: string }>;
  /** append-only JSON-lines audit log of decisions ('' or undefined: none) */
  auditLog?: string;
  /** the pod's imagePullSecrets and its ServiceAccount's, for resolving tags in private registries */
  pullSecrets?: PullSecretSource;
}

export interface ReviewAnswer {
  status: number;
  body: unknown;
}

interface Request {
  uid: string;
  kind: string;
  namespace: string;
  name: string;
  operation: string;
  subResource: string;
  dryRun: boolean;
  object: unknown;
  oldObject: unknown;
  user: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const log = logger('admission');

function bad(message: string): ReviewAnswer {
  return { status: 400, body: { error: { code: 'ADMISSION_REVIEW_INVALID', message } } };
}

function parseRequest(body: unknown): Request | string {
  if (!isObj(body)) return 'the body is not a JSON object';
  if (body['apiVersion'] !== ADMISSION_API_VERSION) return `apiVersion must be ${ADMISSION_API_VERSION}, not ${JSON.stringify(body['apiVersion'])}`;
  if (body['kind'] !== 'AdmissionReview') return `kind must be AdmissionReview, not ${JSON.stringify(body['kind'])}`;
  const r = body['request'];
  if (!isObj(r)) return 'request is missing';
  const uid = r['uid'];
  if (typeof uid !== 'string' || uid === '' || uid.length > 256) return 'request.uid is missing';
  const kind = isObj(r['kind']) ? r['kind']['kind'] : undefined;
  if (typeof kind !== 'string') return 'request.kind.kind is missing';
  const operation = r['operation'];
  if (typeof operation !== 'string') return 'request.operation is missing';
  const ui = isObj(r['userInfo']) ? r['userInfo'] : {};
  return {
    uid,
    kind,
    namespace: typeof r['namespace'] === 'string' ? r['namespace'] : '',
    name: typeof r['name'] === 'string' && r['name'] !== '' ? r['name'] : objectName(r['object']),
    operation,
    subResource: typeof r['subResource'] === 'string' ? r['subResource'] : '',
    dryRun: r['dryRun'] === true,
    object: r['object'],
    oldObject: r['oldObject'],
    user: typeof ui['username'] === 'string' ? ui['username'] : '',
  };
}

function objectName(object: unknown): string {
  const md = isObj(object) && isObj(object['metadata']) ? object['metadata'] : {};
  const name = md['name'] ?? md['generateName'];
  return typeof name === 'string' ? name : '';
}

function review(uid: string, allowed: boolean, extra: { message?: string; warnings?: string[]; annotations?: Record<string, string> } = {}): ReviewAnswer {
  const response: Obj = { uid, allowed };
  if (!allowed) response['status'] = { code: 403, reason: 'Forbidden', message: extra.message ?? 'denied' };
  else if (extra.message) response['status'] = { code: 200, message: extra.message };
  if (extra.warnings && extra.warnings.length > 0) response['warnings'] = extra.warnings.slice(0, MAX_WARNINGS).map(clipWarning);
  if (extra.annotations) response['auditAnnotations'] = extra.annotations;
  return { status: 200, body: { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response } };
}

function clipWarning(w: string): string {
  return w.length > MAX_WARNING_CHARS ? `${w.slice(0, MAX_WARNING_CHARS - 1)}…` : w;
}

/**
 * The break-glass annotation that counts for an object: a Pod's own; for every other carrier, its pod template's.
 * A carrier's own metadata is not copied to the Pods its controller creates, and each of those Pods is judged again:
 * a break-glass on the Deployment itself would admit the Deployment and then deny every one of its Pods. So an
 * annotation found only there is reported as misplaced (and refused) rather than half-honoured.
 */
function breakGlassOf(object: unknown, name: string): { reason: string } | { misplaced: string } | undefined {
  if (!isObj(object)) return undefined;
  const read = (md: unknown): string => {
    const a = isObj(md) && isObj(md['annotations']) ? md['annotations'][name] : undefined;
    return typeof a === 'string' ? a.trim() : '';
  };
  const own = read(object['metadata']);
  const spec = isObj(object['spec']) ? object['spec'] : {};
  const cronTemplate = isObj(spec['jobTemplate']) && isObj(spec['jobTemplate']['spec']) ? spec['jobTemplate']['spec']['template'] : undefined;
  const [tpl, where] = isObj(spec['template']) ? [spec['template'], 'spec.template.metadata.annotations'] : isObj(cronTemplate) ? [cronTemplate, 'spec.jobTemplate.spec.template.metadata.annotations'] : [undefined, ''];
  if (!tpl) return own !== '' ? { reason: own } : undefined;
  const templated = read(tpl['metadata']);
  if (templated !== '') return { reason: templated };
  return own !== '' ? { misplaced: where } : undefined;
}

export class AdmissionWebhook {
  private readonly options: WebhookOptions;
  private readonly budgetMs: number;

  constructor(options: WebhookOptions) {
    this.options = options;
    this.budgetMs = options.budgetMs ?? 5000;
  }

  /** Answers one AdmissionReview (the raw request body). Never throws. */
  async handle(raw: Buffer): Promise<ReviewAnswer> {
    if (raw.length > MAX_REVIEW_BYTES) return { status: 413, body: { error: { code: 'ADMISSION_REVIEW_INVALID', message: `the AdmissionReview is larger than ${String(MAX_REVIEW_BYTES)} bytes` } } };
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      return bad(`the body is not JSON: ${errorMessage(err)}`);
    }
    const req = parseRequest(body);
    if (typeof req === 'string') return bad(req);
    try {
      return await this.decide(req);
    } catch (err) {
      // fail closed, with an answer the API server can show
      log.error({ uid: req.uid, err: errorMessage(err) }, 'admission failed: denied');
      return review(req.uid, false, { message: `vouch: cannot judge this ${req.kind}: ${errorMessage(err)}` });
    }
  }

  private async decide(req: Request): Promise<ReviewAnswer> {
    if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return review(req.uid, true);
    // status, scale and other subresources change no image; ephemeral containers (kubectl debug) do
    if (req.subResource !== '' && req.subResource !== 'ephemeralcontainers') return review(req.uid, true);
    if (!podSpecOf(req.object, req.kind)) {
      if (isObj(req.object) && ['Pod', 'Deployment', 'ReplicaSet', 'ReplicationController', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'].includes(req.kind)) {
        return review(req.uid, false, { message: `vouch: the ${req.kind} has no pod spec to judge` });
      }
      return review(req.uid, true);
    }
    let uses: ImageUse[];
    let before = new Map<string, string>();
    try {
      uses = imagesOf(req.object, req.kind);
      if (req.operation === 'UPDATE' && req.oldObject !== undefined && req.oldObject !== null) before = new Map(imagesOf(req.oldObject, req.kind).map((u) => [u.slot, u.image]));
    } catch (err) {
      return review(req.uid, false, { message: `vouch: ${errorMessage(err)}` });
    }
    // an UPDATE (scale, labels, status, a debug container) judges only the containers whose image it sets: one that
    // keeps its image string keeps what the kubelet already runs; any other use is judged, even if the same string
    // runs in another container (a tag may point elsewhere by now, and this container would pull it afresh)
    const images = distinctImages(uses.filter((u) => before.get(u.slot) !== u.image));
    if (images.length === 0) return review(req.uid, true);

    const verdicts = await this.withinBudget(images, req.namespace, podSpecOf(req.object, req.kind)!.spec);
    const denied = verdicts.filter((v) => !v.allowed);
    const warnings = verdicts.flatMap((v) => v.warnings.map((w) => `${shortImage(v.image)}: ${w}`));
    const breakGlassName = this.options.breakGlassAnnotation ?? 'vouch.dev/break-glass';
    let allowed = denied.length === 0;
    let message = '';
    const annotations: Record<string, string> = {};
    if (!allowed) {
      message = `vouch denied ${req.kind} ${req.namespace}/${req.name}: ${denied.map((v) => `image ${v.image}${v.digest ? ` (sha256:${v.digest.slice(0, 12)})` : ''}: ${v.reasons.join('; ')}`).join(' | ')}`;
      const breakGlass = breakGlassOf(req.object, breakGlassName);
      if (breakGlass && 'misplaced' in breakGlass) {
        message += ` | break-glass annotation ${breakGlassName} is on the ${req.kind}'s own metadata, which its Pods do not inherit (each Pod is judged again): put it in ${breakGlass.misplaced}`;
      } else if (breakGlass) {
        const reason = breakGlass.reason;
        const record: BreakGlassRecord = { reason, uid: req.uid, namespace: req.namespace, kind: req.kind, name: req.name, user: req.user, images: denied.map((v) => ({ image: v.image, digest: v.digest, reasons: v.reasons })) };
        if (req.dryRun) {
          allowed = true;
          warnings.unshift(`break-glass (dry run, not logged): ${reason}`);
        } else if (!this.options.logBreakGlass) {
          message += ` | break-glass annotation ${breakGlassName} present, but this webhook cannot log it to the transparency log, so it is refused`;
        } else {
          try {
            const entry = await this.options.logBreakGlass(record);
            allowed = true;
            warnings.unshift(`break-glass admitted, logged as entry #${entry.logIndex}: ${reason}`);
            annotations['break-glass-log-index'] = entry.logIndex;
            log.warn({ uid: req.uid, namespace: req.namespace, name: req.name, user: req.user, logIndex: entry.logIndex }, 'break-glass admission');
          } catch (err) {
            message += ` | break-glass could not be logged to the transparency log (${errorMessage(err)}), so it is refused`;
          }
        }
      }
    }
    // the API server prefixes audit annotation keys with the webhook's name, so they carry no prefix of their own
    annotations['decision'] = allowed ? (denied.length > 0 ? 'break-glass' : 'allowed') : 'denied';
    if (!req.dryRun) await this.audit(req, verdicts, allowed, denied.length > 0 && allowed);
    return review(req.uid, allowed, { ...(allowed ? {} : { message: message.slice(0, MAX_MESSAGE_CHARS) }), warnings, annotations });
  }

  /** Judges images in parallel; what is not decided within the budget is denied. */
  private async withinBudget(images: string[], namespace: string, podSpec: Record<string, unknown>): Promise<ImageVerdict[]> {
    const timeouts: NodeJS.Timeout[] = [];
    const verdicts = await Promise.all(
      images.map((image) =>
        Promise.race([
          this.credentialsFor(image, namespace, podSpec).then((credentials) => this.options.engine.judgeImage(image, { namespace, ...(credentials ? { credentials } : {}) })),
          new Promise<ImageVerdict>((resolve) => {
            timeouts.push(
              setTimeout(() => {
                resolve({ image, repository: '', digest: '', allowed: false, via: 'error', policies: [], reasons: [`engine.timeout: not judged within ${String(this.budgetMs)} ms; fix: retry, or check the registry, store and log`], warnings: [], inputs: [] });
              }, this.budgetMs),
            );
          }),
        ]),
      ),
    );
    for (const t of timeouts) clearTimeout(t);
    return verdicts;
  }

  /** Pull credentials for a tag (a digest needs no registry call); a failure to read them means anonymous, logged. */
  private async credentialsFor(image: string, namespace: string, podSpec: Record<string, unknown>): Promise<RegistryCredentials | undefined> {
    const source = this.options.pullSecrets;
    if (!source || image.includes('@')) return undefined;
    try {
      return await pullCredentials(source, namespace, podSpec, parseImageReference(image).registry);
    } catch (err) {
      log.warn({ image, namespace, err: errorMessage(err) }, 'pull secrets could not be read: resolving the tag anonymously');
      return undefined;
    }
  }

  private async audit(req: Request, verdicts: ImageVerdict[], allowed: boolean, breakGlass: boolean): Promise<void> {
    if (!this.options.auditLog) return;
    const line = JSON.stringify({
      time: new Date().toISOString(),
      uid: req.uid,
      operation: req.operation,
      kind: req.kind,
      namespace: req.namespace,
      name: req.name,
      user: req.user,
      allowed,
      breakGlass,
      images: verdicts.map((v) => ({ image: v.image, digest: v.digest, allowed: v.allowed, via: v.via, reasons: v.reasons, warnings: v.warnings })),
    });
    const fh = await open(this.options.auditLog, 'a', 0o640);
    try {
      await fh.appendFile(`${line}\n`);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
}

function shortImage(image: string): string {
  return image.replace(/@sha256:([0-9a-f]{12})[0-9a-f]{52}$/, '@sha256:$1');
}

export interface RunningWebhook {
  url: string;
  server: Server;
  /** the watch on the certificate files, when serving from files (tlsFiles) */
  tls?: TlsFileWatch;
  close(): Promise<void>;
}

export interface ServeWebhookOptions {
  /** the files `tls` was read from: looked at every `reloadEveryMs` (0: never) and a changed usable pair is served */
  tlsFiles?: TlsFiles & { reloadEveryMs: number };
}

/** Serves the webhook over HTTPS: POST /admission, GET /healthz. */
export async function serveWebhook(webhook: AdmissionWebhook, tls: TlsPair, host: string, port: number, options: ServeWebhookOptions = {}): Promise<RunningWebhook> {
  let server: Server;
  try {
    server = createServer(secureContextOptions(tls), (req, res) => {
      void route(webhook, req, res);
    });
  } catch (err) {
    throw new VouchError('CONFIG_INVALID', `the admission TLS certificate or key cannot be used: ${errorMessage(err)}`);
  }
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const url = `https://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${String(addr.port)}`;
  log.info({ url }, 'admission webhook listening');
  let watch: TlsFileWatch | undefined;
  if (options.tlsFiles) {
    watch = new TlsFileWatch(options.tlsFiles, { cert: Buffer.from(tls.cert), key: Buffer.from(tls.key) }, (pair) => {
      // new handshakes get the new pair; connections already open keep theirs
      server.setSecureContext(secureContextOptions(pair));
    });
    if (options.tlsFiles.reloadEveryMs > 0) watch.start(options.tlsFiles.reloadEveryMs);
  }
  return {
    url,
    server,
    ...(watch ? { tls: watch } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        watch?.stop();
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

async function route(webhook: AdmissionWebhook, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const send = (a: ReviewAnswer): void => {
    const text = JSON.stringify(a.body);
    res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'GET' && path === '/healthz') {
    send({ status: 200, body: { ok: true } });
    return;
  }
  if (path !== '/admission') {
    send({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'POST /admission' } } });
    return;
  }
  if (req.method !== 'POST') {
    send({ status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'POST /admission' } } });
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  try {
    // an oversized body is read to its end (bounded by the server's requestTimeout) but not kept, so the client
    // gets the 413 instead of a reset connection
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_REVIEW_BYTES) tooLarge = true;
      else chunks.push(chunk as Buffer);
    }
  } catch {
    return;
  }
  if (tooLarge) {
    send({ status: 413, body: { error: { code: 'ADMISSION_REVIEW_INVALID', message: `the AdmissionReview is larger than ${String(MAX_REVIEW_BYTES)} bytes` } } });
    return;
  }
  send(await webhook.handle(Buffer.concat(chunks)));
}
