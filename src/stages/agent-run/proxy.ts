// The egress proxy of an agent run: the agent's only way out of its network namespace. It listens on a unix socket
// that is bind-mounted into the sandbox (the agent reaches it through the in-sandbox forwarder, launcher.ts) and
// - tunnels HTTP CONNECT only to allow-listed host:port pairs (https to any other host is refused with 403);
// - forwards plain HTTP requests with an absolute URL only to allow-listed hosts;
// - forwards origin-form requests (the agent's ANTHROPIC_BASE_URL points here) to the model API over HTTPS, adding
//   the credential header that only this process holds; any credential the agent sent is dropped first, so the agent
//   can neither see nor choose the key that is used. Only the calls a coding agent needs get the key (MODEL_CALLS:
//   POST /v1/messages and /v1/messages/count_tokens, what Claude Code sends); the rest of the API the key opens
//   (files, batches, admin...) is refused.
// Every attempt, allowed or refused, is logged with host, port, time and bytes each way.

import { createServer, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface HostRule {
  /** lower-case host name or IP literal; `*.example.com` matches sub-domains */
  host: string;
  /** undefined: 443 for CONNECT, 80 for plain HTTP */
  port?: number;
}

export interface EgressEntry {
  time: string;
  /** connect: an HTTPS tunnel; http: a plain request by absolute URL; model: a model API call with the credential */
  kind: 'connect' | 'http' | 'model';
  host: string;
  port: number;
  allowed: boolean;
  /** why it was refused or failed */
  reason?: string;
  /** HTTP status returned to the agent (http and model requests, refused tunnels) */
  status?: number;
  /** bytes from the agent to the remote host */
  bytesOut: number;
  /** bytes from the remote host to the agent */
  bytesIn: number;
}

export interface ModelRoute {
  /** the model API origin, e.g. https://api.anthropic.com */
  url: URL;
  /** header carrying the credential (x-api-key for Anthropic; `authorization` sends `Bearer <credential>`) */
  header: string;
  credential: string | undefined;
}

export interface EgressProxyOptions {
  socketPath: string;
  allow: readonly HostRule[];
  model?: ModelRoute;
}

/** Parses the allowed-hosts param: host or host:port entries separated by commas, spaces or newlines. */
export function parseHostRules(text: string): HostRule[] {
  const rules: HostRule[] = [];
  for (const entry of text.split(/[\s,]+/).filter((e) => e !== '')) {
    const m = /^(\*\.)?([a-z0-9.-]+|\[[0-9a-f:]+\])(?::(\d{1,5}))?$/i.exec(entry);
    const port = m?.[3] === undefined ? undefined : Number(m[3]);
    if (!m || (port !== undefined && (port < 1 || port > 65535))) throw new Error(`allowed host "${entry}" is not host or host:port`);
    rules.push({ host: `${m[1] ?? ''}${m[2]!.toLowerCase()}`, ...(port === undefined ? {} : { port }) });
  }
  return rules;
}

export function hostAllowed(rules: readonly HostRule[], host: string, port: number, defaultPort: number): boolean {
  const h = host.toLowerCase();
  return rules.some((r) => {
    const hostOk = r.host.startsWith('*.') ? h.endsWith(r.host.slice(1)) : h === r.host;
    return hostOk && port === (r.port ?? defaultPort);
  });
}

/** The model API calls forwarded with the credential: method and exact path (a query string may follow). */
export const MODEL_CALLS: readonly { method: string; path: string }[] = [
  { method: 'POST', path: '/v1/messages' },
  { method: 'POST', path: '/v1/messages/count_tokens' },
];

/** Whether an origin-form request is one of MODEL_CALLS; the raw path is compared, so `..` or `%2e` never match. */
export function isModelCall(method: string | undefined, url: string): boolean {
  const path = url.split(/[?#]/, 1)[0]!;
  return MODEL_CALLS.some((c) => c.method === method && c.path === path);
}

/** Request headers that belong to one hop, or carry a credential the agent must not choose. */
const DROPPED = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'x-api-key', 'authorization']);

function forwardHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) if (!DROPPED.has(name) && value !== undefined) out[name] = value;
  return out;
}

function defaultPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

function splitHostPort(authority: string): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-f:]+\]|[^:[\]]+):(\d{1,5})$/i.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!.replace(/^\[|\]$/g, ''), port } : undefined;
}

export class EgressProxy {
  readonly #o: EgressProxyOptions;
  readonly #server: Server;
  readonly #entries: EgressEntry[] = [];
  readonly #open = new Set<Socket | Duplex>();

  constructor(options: EgressProxyOptions) {
    this.#o = options;
    this.#server = createServer((req, res) => {
      this.#onRequest(req, res);
    });
    this.#server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onConnect(req, socket, head);
    });
    this.#server.on('connection', (s: Socket) => { this.#track(s); });
  }

  /** Every attempt so far, in order. */
  get entries(): readonly EgressEntry[] {
    return this.#entries;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.socketPath, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops listening and cuts every tunnel still open (the agent is gone by then). */
  close(): Promise<void> {
    for (const s of this.#open) s.destroy();
    return new Promise((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  #track(s: Socket | Duplex): void {
    this.#open.add(s);
    s.once('close', () => this.#open.delete(s));
  }

  #record(e: Omit<EgressEntry, 'time'>, time: Date): EgressEntry {
    const entry: EgressEntry = { time: time.toISOString(), ...e };
    this.#entries.push(entry);
    return entry;
  }

  #onConnect(req: IncomingMessage, client: Duplex, head: Buffer): void {
    const time = new Date();
    const target = splitHostPort(req.url ?? '');
    const refuse = (status: number, reason: string, host: string, port: number): void => {
      this.#record({ kind: 'connect', host, port, allowed: false, reason, status, bytesOut: 0, bytesIn: 0 }, time);
      client.end(`HTTP/1.1 ${String(status)} ${status === 403 ? 'Forbidden' : 'Bad Request'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nvouch egress proxy: ${reason}\n`);
    };
    if (!target) {
      refuse(400, 'CONNECT target is not host:port', (req.url ?? '').slice(0, 200), 0);
      return;
    }
    if (!hostAllowed(this.#o.allow, target.host, target.port, 443)) {
      refuse(403, 'host not on the allow-list', target.host, target.port);
      return;
    }
    const entry = this.#record({ kind: 'connect', host: target.host, port: target.port, allowed: true, bytesOut: head.length, bytesIn: 0 }, time);
    const upstream = connect(target.port, target.host);
    this.#track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      client.on('data', (d: Buffer) => (entry.bytesOut += d.length));
      upstream.on('data', (d: Buffer) => (entry.bytesIn += d.length));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.once('error', (err) => {
      entry.reason = `upstream: ${err.message}`;
      if (!connected) client.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\n\r\n');
      else client.destroy();
    });
    client.once('error', () => upstream.destroy());
    client.once('close', () => upstream.destroy());
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const time = new Date();
    const url = req.url ?? '/';
    if (url.startsWith('/')) {
      const model = this.#o.model;
      if (!model) {
        this.#refuse(res, { kind: 'model', host: '', port: 0, reason: 'no model API is configured' }, time, 404);
        return;
      }
      if (!isModelCall(req.method, url)) {
        req.resume();
        this.#refuse(res, { kind: 'model', host: model.url.hostname, port: defaultPort(model.url), reason: `${(req.method ?? '').slice(0, 16)} ${url.split(/[?#]/, 1)[0]!.slice(0, 200)} is not a model call (only ${MODEL_CALLS.map((c) => `${c.method} ${c.path}`).join(', ')})` }, time, 403);
        return;
      }
      // concatenated, never resolved: `//evil.example/x` resolved against the model URL would leave its origin
      const target = new URL(`${model.url.origin}${model.url.pathname.replace(/\/$/, '')}${url}`);
      if (target.origin !== model.url.origin) {
        this.#refuse(res, { kind: 'model', host: target.hostname, port: 0, reason: 'request target leaves the model API' }, time, 400);
        return;
      }
      const headers = forwardHeaders(req);
      if (model.credential !== undefined) headers[model.header] = model.header === 'authorization' ? `Bearer ${model.credential}` : model.credential;
      this.#forward(req, res, 'model', target, headers, time);
      return;
    }
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      this.#refuse(res, { kind: 'http', host: url.slice(0, 200), port: 0, reason: 'request target is not a URL' }, time, 400);
      return;
    }
    const port = target.port === '' ? 80 : Number(target.port);
    const host = target.hostname.replace(/^\[|\]$/g, '');
    if (target.protocol !== 'http:' || !hostAllowed(this.#o.allow, host, port, 80)) {
      this.#refuse(res, { kind: 'http', host, port, reason: target.protocol === 'http:' ? 'host not on the allow-list' : `${target.protocol} is not proxied (use CONNECT)` }, time, 403);
      return;
    }
    this.#forward(req, res, 'http', target, forwardHeaders(req), time);
  }

  #refuse(res: ServerResponse, e: { kind: EgressEntry['kind']; host: string; port: number; reason: string }, time: Date, status: number): void {
    this.#record({ ...e, allowed: false, status, bytesOut: 0, bytesIn: 0 }, time);
    res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' }).end(`vouch egress proxy: ${e.reason}\n`);
  }

  #forward(req: IncomingMessage, res: ServerResponse, kind: 'http' | 'model', target: URL, headers: OutgoingHttpHeaders, time: Date): void {
    const port = defaultPort(target);
    const entry = this.#record({ kind, host: target.hostname, port, allowed: true, bytesOut: 0, bytesIn: 0 }, time);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = send(target, { method: req.method ?? 'GET', headers: { ...headers, host: target.host } }, (up) => {
      entry.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, Object.fromEntries(Object.entries(up.headers).filter(([k]) => !['connection', 'keep-alive', 'transfer-encoding'].includes(k))));
      up.on('data', (d: Buffer) => (entry.bytesIn += d.length));
      up.pipe(res);
    });
    upstream.on('error', (err) => {
      entry.reason = `upstream: ${err.message}`;
      entry.status = 502;
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`vouch egress proxy: upstream failed\n`);
    });
    req.on('data', (d: Buffer) => (entry.bytesOut += d.length));
    req.pipe(upstream);
  }
}

export interface EgressSummary {
  attempts: number;
  allowed: number;
  refused: number;
  bytesOut: number;
  bytesIn: number;
  /** one row per host:port and kind, in first-seen order */
  hosts: { host: string; port: number; kind: EgressEntry['kind']; allowed: boolean; attempts: number; bytesOut: number; bytesIn: number }[];
}

export function summarizeEgress(entries: readonly EgressEntry[]): EgressSummary {
  const hosts: EgressSummary['hosts'] = [];
  for (const e of entries) {
    let row = hosts.find((h) => h.host === e.host && h.port === e.port && h.kind === e.kind && h.allowed === e.allowed);
    if (!row) {
      row = { host: e.host, port: e.port, kind: e.kind, allowed: e.allowed, attempts: 0, bytesOut: 0, bytesIn: 0 };
      hosts.push(row);
    }
    row.attempts++;
    row.bytesOut += e.bytesOut;
    row.bytesIn += e.bytesIn;
  }
  return {
    attempts: entries.length,
    allowed: entries.filter((e) => e.allowed).length,
    refused: entries.filter((e) => !e.allowed).length,
    bytesOut: entries.reduce((n, e) => n + e.bytesOut, 0),
    bytesIn: entries.reduce((n, e) => n + e.bytesIn, 0),
    hosts,
  };
}
