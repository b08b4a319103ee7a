import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';

// A real OCI registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1, with a temp storage
// directory, started and stopped by the test. Missing binary = a failing test that says what to install.

export const REGISTRY_BIN = 'docker-registry';

export function requireRegistryBinary(): void {
  const found = spawnSync('sh', ['-c', `command -v ${REGISTRY_BIN}`], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(`${REGISTRY_BIN} is not installed: the OCI store tests need a real registry. Install the Debian package: apt-get install -y docker-registry (it is in the debs list of .ci/run)`);
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => { resolve(port); });
    });
  });
}

export class TestRegistry {
  /** storage and config; made by the first start() so that a suite that never runs leaves nothing behind */
  dir = '';
  port = 0;
  private child: ChildProcess | undefined;
  private stderr = '';

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts) the registry; `samePort` brings it back on the address it had, as after an outage. */
  async start(samePort = false): Promise<void> {
    requireRegistryBinary();
    this.dir ||= mkdtempSync(join(tmpdir(), 'vouch-registry-'));
    if (!samePort || this.port === 0) this.port = await freePort();
    const config = join(this.dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        '  accesslog:',
        '    disabled: true',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(this.dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: 127.0.0.1:${this.port}`,
        '',
      ].join('\n'),
    );
    this.stderr = '';
    const child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-4000)));
    this.child = child;
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${this.stderr}`);
      try {
        const res = await fetch(`http://${this.host}/v2/`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(25);
    }
    throw new Error(`docker-registry did not come up on ${this.host}: ${this.stderr}`);
  }

  /** SIGKILL: an outage, not a clean shutdown. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    this.child = undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
  }

  cleanup(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function sha(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** One-file tar archive (ustar), as a small real image layer. */
function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

export interface PushedImage {
  repository: string;
  tag: string;
  digest: string;
  manifest: Buffer;
}

/** Pushes a small real OCI image (one gzip layer, config, manifest) with plain fetch, as a build tool would. */
export async function pushTestImage(host: string, repository: string, tag: string): Promise<PushedImage> {
  const tar = tarOf('hello.txt', Buffer.from(`hello from ${repository} ${randomBytes(4).toString('hex')}\n`));
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(tar)}`] }, history: [{ created_by: 'vouch test' }] }),
  );
  for (const blob of [layer, config]) {
    const start = await fetch(`http://${host}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
    const url = new URL(start.headers.get('location')!, `http://${host}`);
    url.searchParams.set('digest', `sha256:${sha(blob)}`);
    const put = await fetch(url, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', size: config.length, digest: `sha256:${sha(config)}` },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', size: layer.length, digest: `sha256:${sha(layer)}` }],
    }),
  );
  const put = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  if (put.status !== 201) throw new Error(`manifest: ${put.status} ${await put.text()}`);
  return { repository, tag, digest: sha(manifest), manifest };
}

export type FrontMode = 'pass' | 'bearer' | 'basic';

/**
 * An HTTP front in front of the real registry: passes requests through, optionally demanding registry auth
 * (a Bearer token service per distribution's token spec, or Basic), and lets a test cut the registry off when a
 * given request arrives (an outage mid-way).
 */
export class RegistryFront {
  mode: FrontMode = 'pass';
  readonly user = 'vouch-bot';
  readonly password = randomBytes(12).toString('hex');
  /** token requests seen: their query and whether Basic credentials were right */
  readonly tokenRequests: { service: string | null; scope: string | null; authorized: boolean }[] = [];
  /** authorization headers seen on registry requests */
  readonly seenAuth: (string | undefined)[] = [];
  /** called before a request is forwarded; return true to drop the connection instead */
  onRequest: ((req: IncomingMessage) => Promise<boolean> | boolean) | undefined;
  /** `METHOD /path` of every registry (/v2/) request that reached the front, in order */
  readonly requests: string[] = [];
  /** answers a request itself instead of the registry (a registry that lies); undefined: forward it */
  respond: ((method: string, path: string) => { status: number; headers: Record<string, string>; body: Buffer } | undefined) | undefined;
  private readonly tokens = new Set<string>();
  private server: Server | undefined;
  port = 0;
  private readonly registry: TestRegistry;

  constructor(registry: TestRegistry) {
    this.registry = registry;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((r) => this.server!.close(r));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    if (url.pathname === '/token') {
      const expected = `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}`;
      const authorized = req.headers.authorization === expected;
      this.tokenRequests.push({ service: url.searchParams.get('service'), scope: url.searchParams.get('scope'), authorized });
      if (!authorized) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        return;
      }
      const token = randomBytes(16).toString('hex');
      this.tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: 300 }));
      return;
    }
    this.seenAuth.push(req.headers.authorization);
    if (url.pathname.startsWith('/v2/')) this.requests.push(`${req.method ?? ''} ${url.pathname}`);
    if (this.mode !== 'pass' && url.pathname.startsWith('/v2/')) {
      const auth = req.headers.authorization ?? '';
      const ok =
        this.mode === 'bearer'
          ? auth.startsWith('Bearer ') && this.tokens.has(auth.slice(7))
          : auth === `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}`;
      if (!ok) {
        const repo = /^\/v2\/(.+?)\/(?:blobs|manifests)\//.exec(url.pathname)?.[1];
        const challenge =
          this.mode === 'bearer'
            ? `Bearer realm="http://${this.host}/token",service="vouch-test-registry"${repo ? `,scope="repository:${repo}:pull,push"` : ''}`
            : 'Basic realm="vouch-test"';
        req.resume();
        res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    const own = this.respond?.(req.method ?? '', url.pathname);
    if (own) {
      req.resume();
      // a chunked answer has no Content-Length: the client learns the size only by reading
      res.writeHead(own.status, own.headers['transfer-encoding'] === 'chunked' ? own.headers : { ...own.headers, 'content-length': String(own.body.length) }).end(own.body);
      return;
    }
    if (this.onRequest && (await this.onRequest(req))) {
      req.socket.destroy();
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: this.registry.port, method: req.method, path: req.url, headers: { ...req.headers, host: this.registry.host } },
      (up) => {
        const headers = { ...up.headers };
        // upload locations point at the registry: rewrite them to come back through the front
        if (typeof headers.location === 'string') headers.location = headers.location.replace(`//${this.registry.host}`, `//${this.host}`);
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(upstream);
  }
}
