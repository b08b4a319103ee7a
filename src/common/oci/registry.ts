import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, VouchError } from '../errors.ts';
import { logger } from '../log.ts';
import { apiHost, parseImageReference } from './reference.ts';

// A small client for the OCI distribution API (https://github.com/opencontainers/distribution-spec/blob/main/spec.md)
// over fetch: blobs (HEAD, monolithic POST+PUT upload, GET with digest check), manifests (GET, HEAD, PUT) and the
// registry token flow (distribution's docs/spec/auth/token.md): a 401 carries `WWW-Authenticate: Bearer realm=…,
// service=…,scope=…`; we GET the realm with service and scope (with Basic credentials when configured), take `token`
// or `access_token`, and retry with `Authorization: Bearer`. A `Basic` challenge gets the configured credentials.
// Network errors, timeouts, 429 and 5xx are retried with exponential backoff; then STORE_UNAVAILABLE.

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

/** What a manifest request accepts: every single-image and index type, so tags of any image resolve. */
export const MANIFEST_ACCEPT = [MediaTypes.ociManifest, MediaTypes.ociIndex, MediaTypes.dockerManifest, MediaTypes.dockerManifestList].join(', ');

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** a bearer token used as is (e.g. from a cloud provider's helper); the token flow is skipped */
  token?: string;
}

export interface RegistryClientOptions {
  /** host[:port], as in image references (docker.io means Docker Hub) */
  registry: string;
  /** speak http instead of https; the default is http only for loopback hosts (localhost, 127.0.0.1, [::1]) */
  plainHttp?: boolean;
  credentials?: RegistryCredentials;
  /** per request, ms (default 30 s) */
  timeoutMs?: number;
  /** retries after the first attempt on network errors, timeouts, 429 and 5xx (default 4) */
  retries?: number;
  /** first backoff, doubled each retry, with jitter (default 200 ms) */
  backoffMs?: number;
}

export interface Manifest {
  /** raw bytes as served: their sha256 is the manifest digest */
  body: Buffer;
  mediaType: string;
  /** hex */
  digest: string;
}

interface RequestOptions {
  headers?: Record<string, string>;
  body?: Buffer;
  /** repository the request is about: scopes the token */
  repository: string;
  push?: boolean;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:[0-9]+$/, '');
  return h === 'localhost' || h === '127.0.0.1' || h === '[::1]' || h.startsWith('127.');
}

export class RegistryClient {
  readonly registry: string;
  private readonly base: string;
  private readonly credentials: RegistryCredentials;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  /** scope -> bearer token and when it stops being used */
  private readonly tokens = new Map<string, { token: string; until: number }>();
  private basic = false;
  private readonly log = logger('oci');

  constructor(options: RegistryClientOptions) {
    this.registry = options.registry;
    const host = apiHost(options.registry);
    const plain = options.plainHttp ?? isLoopback(host);
    this.base = `${plain ? 'http' : 'https'}://${host}`;
    this.credentials = options.credentials ?? {};
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 4;
    this.backoffMs = options.backoffMs ?? 200;
  }

  async blobExists(repository: string, digestHex: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repository}/blobs/sha256:${digestHex}`, { repository });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.unexpected(res, `HEAD blob sha256:${digestHex} in ${repository}`);
  }

  /** Uploads a blob unless the registry has it; returns its digest (hex). */
  async putBlob(repository: string, data: Buffer): Promise<string> {
    const digest = createHash('sha256').update(data).digest('hex');
    if (await this.blobExists(repository, digest)) return digest;
    for (let attempt = 0; ; attempt++) {
      const start = await this.request('POST', `/v2/${repository}/blobs/uploads/`, { repository, push: true, headers: { 'content-length': '0' } });
      if (start.status !== 202) throw await this.unexpected(start, `starting a blob upload to ${repository}`);
      const location = start.headers.get('location');
      if (!location) throw new VouchError('STORE_REJECTED', `registry ${this.registry} started an upload without a Location header`);
      const url = new URL(location, this.base);
      url.searchParams.set('digest', `sha256:${digest}`);
      const done = await this.request('PUT', url.toString(), {
        repository,
        push: true,
        body: data,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) },
      });
      // an upload session lost by a registry restart is 404 BLOB_UPLOAD_UNKNOWN: start over once
      if (done.status === 404 && attempt === 0) continue;
      if (done.status !== 201) throw await this.unexpected(done, `uploading blob sha256:${digest} to ${repository}`);
      return digest;
    }
  }

  /**
   * Reads a blob and checks that its bytes have the digest asked for. `maxBytes` bounds the download (a registry
   * that serves more is cut off with STORE_TOO_LARGE instead of filling memory).
   */
  async getBlob(repository: string, digestHex: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    const res = await this.request('GET', `/v2/${repository}/blobs/sha256:${digestHex}`, { repository });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new VouchError('STORE_NOT_FOUND', `blob sha256:${digestHex} is not in ${this.registry}/${repository}`);
    }
    if (res.status !== 200) throw await this.unexpected(res, `GET blob sha256:${digestHex} from ${repository}`);
    const body = await readBounded(res, options.maxBytes, `blob sha256:${digestHex} of ${this.registry}/${repository}`);
    const got = createHash('sha256').update(body).digest('hex');
    if (got !== digestHex) throw new VouchError('STORE_CORRUPT', `registry ${this.registry} served blob sha256:${digestHex} with content of digest sha256:${got}`);
    return body;
  }

  /** The manifest at a tag or digest, or undefined when there is none; `maxBytes` bounds the download. */
  async getManifest(repository: string, reference: string, options: { maxBytes?: number } = {}): Promise<Manifest | undefined> {
    const res = await this.request('GET', `/v2/${repository}/manifests/${reference}`, { repository, headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) throw await this.unexpected(res, `GET manifest ${reference} from ${repository}`);
    const body = await readBounded(res, options.maxBytes, `manifest ${reference} of ${this.registry}/${repository}`);
    const digest = createHash('sha256').update(body).digest('hex');
    if (reference.startsWith('sha256:') && reference !== `sha256:${digest}`) {
      throw new VouchError('STORE_CORRUPT', `registry ${this.registry} served manifest ${reference} with content of digest sha256:${digest}`);
    }
    const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim() || mediaTypeOf(body);
    return { body, mediaType, digest };
  }

  /** Resolves a tag to its manifest digest (hex) with HEAD; undefined when the tag does not exist. */
  async resolveTag(repository: string, tag: string): Promise<string | undefined> {
    const res = await this.request('HEAD', `/v2/${repository}/manifests/${tag}`, { repository, headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw await this.unexpected(res, `HEAD manifest ${tag} in ${repository}`);
    const header = res.headers.get('docker-content-digest');
    const m = header ? /^sha256:([0-9a-f]{64})$/.exec(header) : null;
    if (m) return m[1]!;
    // the header is optional in the spec: fall back to hashing the manifest
    return (await this.getManifest(repository, tag))?.digest;
  }

  /** PUTs a manifest under a tag (or its digest); returns the manifest digest (hex). */
  async putManifest(repository: string, reference: string, body: Buffer, mediaType: string): Promise<string> {
    const digest = createHash('sha256').update(body).digest('hex');
    const res = await this.request('PUT', `/v2/${repository}/manifests/${reference}`, {
      repository,
      push: true,
      body,
      headers: { 'content-type': mediaType, 'content-length': String(body.length) },
    });
    if (res.status !== 201 && res.status !== 200) throw await this.unexpected(res, `PUT manifest ${reference} to ${repository}`);
    await res.body?.cancel();
    const served = res.headers.get('docker-content-digest');
    if (served && served !== `sha256:${digest}`) {
      throw new VouchError('STORE_CORRUPT', `registry ${this.registry} stored manifest ${reference} as ${served}, not sha256:${digest}`);
    }
    return digest;
  }

  private async request(method: string, pathOrUrl: string, options: RequestOptions): Promise<Response> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${this.base}${pathOrUrl}`;
    const scope = `repository:${options.repository}:${options.push ? 'pull,push' : 'pull'}`;
    let authRetried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': 'vouch', ...options.headers };
      const auth = this.authorization(scope);
      if (auth) headers['authorization'] = auth;
      let res: Response;
      try {
        res = await fetch(url, { method, headers, body: options.body, redirect: 'follow', signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        if (attempt < this.retries) {
          await this.backoff(attempt, method, url, errorMessage(err));
          continue;
        }
        throw new VouchError('STORE_UNAVAILABLE', `registry ${this.registry} is unreachable (${method} ${redact(url)}): ${describeFetchError(err)}; tried ${attempt + 1} times`, { cause: err });
      }
      if (res.status === 401 && !authRetried) {
        authRetried = true;
        const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
        await res.body?.cancel();
        await this.authenticate(challenge, scope);
        attempt--;
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new VouchError('STORE_AUTH_FAILED', `registry ${this.registry} refused ${method} on ${options.repository} (${res.status}): check the registry credentials and their rights on the repository`);
      }
      if ((res.status >= 500 || res.status === 429) && attempt < this.retries) {
        await res.body?.cancel();
        await this.backoff(attempt, method, url, `HTTP ${res.status}`);
        continue;
      }
      if (res.status >= 500 || res.status === 429) {
        const detail = await errorDetail(res);
        throw new VouchError('STORE_UNAVAILABLE', `registry ${this.registry} answered ${res.status} to ${method} ${redact(url)}${detail}; tried ${attempt + 1} times`);
      }
      return res;
    }
  }

  private authorization(scope: string): string | undefined {
    if (this.credentials.token) return `Bearer ${this.credentials.token}`;
    const cached = this.tokens.get(scope);
    if (cached && cached.until > Date.now()) return `Bearer ${cached.token}`;
    if (this.basic && this.credentials.username !== undefined) return basicHeader(this.credentials);
    return undefined;
  }

  private async authenticate(challenge: Challenge | undefined, scope: string): Promise<void> {
    if (!challenge) throw new VouchError('STORE_AUTH_FAILED', `registry ${this.registry} asked for authentication without a usable WWW-Authenticate challenge`);
    if (challenge.scheme === 'basic') {
      if (this.credentials.username === undefined) throw new VouchError('STORE_AUTH_FAILED', `registry ${this.registry} requires a username and password (Basic) and none is configured`);
      this.basic = true;
      return;
    }
    if (challenge.scheme !== 'bearer') throw new VouchError('STORE_AUTH_FAILED', `registry ${this.registry} asked for an unsupported authentication scheme ${JSON.stringify(challenge.scheme)}`);
    const realm = challenge.params['realm'];
    if (!realm || !/^https?:\/\//.test(realm)) throw new VouchError('STORE_AUTH_FAILED', `registry ${this.registry} sent a Bearer challenge without an http(s) realm`);
    const tokenUrl = new URL(realm);
    if (challenge.params['service']) tokenUrl.searchParams.set('service', challenge.params['service']);
    // the scope the registry asks for, else the one we need
    tokenUrl.searchParams.set('scope', challenge.params['scope'] ?? scope);
    const headers: Record<string, string> = { 'user-agent': 'vouch' };
    if (this.credentials.username !== undefined) headers['authorization'] = basicHeader(this.credentials);
    let res: Response | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(tokenUrl, { headers, signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        if (attempt < this.retries) {
          await this.backoff(attempt, 'GET', tokenUrl.origin + tokenUrl.pathname, errorMessage(err));
          continue;
        }
        throw new VouchError('STORE_UNAVAILABLE', `the token service ${tokenUrl.origin}${tokenUrl.pathname} of registry ${this.registry} is unreachable: ${describeFetchError(err)}`, { cause: err });
      }
      if (res.status >= 500 && attempt < this.retries) {
        await res.body?.cancel();
        await this.backoff(attempt, 'GET', tokenUrl.origin + tokenUrl.pathname, `HTTP ${res.status}`);
        continue;
      }
      break;
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new VouchError('STORE_AUTH_FAILED', `the token service of registry ${this.registry} refused the ${this.credentials.username === undefined ? 'anonymous request' : 'configured credentials'} for ${scope} (${res.status})`);
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new VouchError(res.status >= 500 ? 'STORE_UNAVAILABLE' : 'STORE_AUTH_FAILED', `the token service of registry ${this.registry} answered ${res.status}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = (await res.json()) as typeof body;
    } catch {
      throw new VouchError('STORE_AUTH_FAILED', `the token service of registry ${this.registry} did not answer JSON`);
    }
    const token = typeof body.token === 'string' && body.token !== '' ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (token === '') throw new VouchError('STORE_AUTH_FAILED', `the token service of registry ${this.registry} answered without a token`);
    // the spec's default lifetime is 60 s; renew a little early
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(scope, { token, until: Date.now() + Math.max(1, seconds - 10) * 1000 });
  }

  private async backoff(attempt: number, method: string, url: string, why: string): Promise<void> {
    const ms = this.backoffMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
    this.log.warn({ registry: this.registry, method, url: redact(url), why, attempt: attempt + 1, retryInMs: Math.round(ms) }, 'registry request failed, retrying');
    await sleep(ms);
  }

  private async unexpected(res: Response, what: string): Promise<VouchError> {
    const detail = await errorDetail(res);
    if (res.status === 404) return new VouchError('STORE_NOT_FOUND', `${what}: not found in registry ${this.registry}${detail}`);
    return new VouchError('STORE_REJECTED', `${what}: registry ${this.registry} answered ${res.status}${detail}`);
  }
}

/** The body, refusing (before reading, by Content-Length, and while reading) more than `maxBytes`. */
async function readBounded(res: Response, maxBytes: number | undefined, what: string): Promise<Buffer> {
  if (maxBytes === undefined) return Buffer.from(await res.arrayBuffer());
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel();
    throw new VouchError('STORE_TOO_LARGE', `${what} has ${String(declared)} bytes, over the ${String(maxBytes)}-byte bound`);
  }
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = res.body?.getReader();
  for (;;) {
    if (!reader) break;
    const { done, value } = (await reader.read()) as { done: boolean; value?: Uint8Array };
    if (done || !value) break;
    length += value.length;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new VouchError('STORE_TOO_LARGE', `${what} is over the ${String(maxBytes)}-byte bound`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, length);
}

function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}

/** Upload URLs carry session state in their query: logs and errors show the path only. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return url.split('?')[0]!;
  }
}

function describeFetchError(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if ((err as Error).name === 'TimeoutError') return 'timed out';
  return cause?.code ?? cause?.message ?? errorMessage(err);
}

async function errorDetail(res: Response): Promise<string> {
  try {
    const text = await res.text();
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const errors = parsed.errors?.map((e) => `${e.code ?? ''} ${e.message ?? ''}`.trim()).filter((s) => s !== '');
    return errors && errors.length > 0 ? `: ${errors.join('; ').slice(0, 300)}` : '';
  } catch {
    return '';
  }
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

function mediaTypeOf(body: Buffer): string {
  try {
    const mt = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
    return typeof mt === 'string' ? mt : '';
  } catch {
    return '';
  }
}

/**
 * Resolves an image reference to its manifest digest (hex): a pinned digest is returned as is (admission judges the
 * digest, never the tag); a tag is resolved with HEAD on the registry. Throws STORE_NOT_FOUND for an unknown tag.
 */
export async function resolveImageDigest(image: string, options: Omit<RegistryClientOptions, 'registry'> = {}): Promise<{ registry: string; repository: string; digest: string }> {
  const ref = parseImageReference(image);
  if (ref.digest) return { registry: ref.registry, repository: ref.repository, digest: ref.digest };
  const client = new RegistryClient({ ...options, registry: ref.registry });
  const tag = ref.tag ?? 'latest';
  const digest = await client.resolveTag(ref.repository, tag);
  if (!digest) throw new VouchError('STORE_NOT_FOUND', `image ${ref.registry}/${ref.repository}:${tag} does not exist`);
  return { registry: ref.registry, repository: ref.repository, digest };
}
