import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { errorMessage, isVouchError } from '../common/errors.ts';
import { logger, type Logger } from '../common/log.ts';
import { canonicalizeProposedEntry, OPENAPI_INVALID_TYPE, OPENAPI_MIN, OPENAPI_PATTERN, OPENAPI_REQUIRED } from './entries.ts';
import { hashLeaf } from './merkle.ts';
import type { EmbeddedLog } from './log.ts';
import type { LogEntry, LogEntryResponse, RekorErrorBody, SearchIndexQuery } from './types.ts';

// The Rekor v1 REST API over an EmbeddedLog (express 5). Routes, status codes and error bodies follow Rekor
// (sigstore/rekor openapi.yaml, pkg/api/*.go, go-openapi's error serving):
//   POST /api/v1/log/entries              201 {entryID: LogEntryAnon}, Location + ETag; 409 + Location of the existing entry
//   GET  /api/v1/log/entries?logIndex=N   200 | 404
//   GET  /api/v1/log/entries/{entryUUID}  64-hex UUID or 80-hex entry ID; 200 | 404
//   POST /api/v1/log/entries/retrieve     {entryUUIDs}|{logIndexes}|{entries} (at most 10 in all) -> [LogEntry]
//   GET  /api/v1/log                      {rootHash, treeSize, signedTreeHead, treeID}
//   GET  /api/v1/log/publicKey            the log key, PEM
//   GET  /api/v1/log/proof?firstSize&lastSize  {rootHash, hashes}
//   POST /api/v1/index/retrieve           {hash: "sha256:…"} | {publicKey: {format: "x509", content}} [operator] -> [entry IDs]
//   GET  /healthz                          {status: "ok", treeSize}
// Errors: {"code": <int>, "message": <string>}: 400 bad entry or request, 404 unknown entry or path, 405, 409
// duplicate, 413 body over the limit, 422 schema validation (code then is go-openapi's: 601 type, 602 required,
// 605 pattern, 609 minimum), 500/503 our failures. Unlike Rekor, a 404 also carries that body. Bad input changes
// nothing: an entry is logged only after it validated completely.

export interface ServerOptions {
  /** request body limit in bytes (default 4 MiB); larger bodies get 413 */
  maxBodyBytes?: number;
  logger?: Logger;
}

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_SEARCH_QUERIES = 10;

class HttpError extends Error {
  readonly status: number;
  readonly code: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, code: number = status, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

function toWire(entry: LogEntry): LogEntryResponse {
  return {
    [entry.entryId]: {
      body: entry.body,
      integratedTime: entry.integratedTime,
      logID: entry.logID,
      logIndex: entry.logIndex,
      verification: entry.verification,
    },
  };
}

function parseJsonBody(req: Request, name: string): unknown {
  const raw: unknown = req.body;
  if (!Buffer.isBuffer(raw) || raw.length === 0) throw new HttpError(422, `${name} in body is required`, OPENAPI_REQUIRED);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `parsing ${name} body from "" failed, because ${errorMessage(err)}`);
  }
}

/** An int64 query parameter as go-openapi binds it. */
function intParam(req: Request, name: string, opts: { required: boolean; min: number; fallback?: number }): number {
  const v = req.query[name];
  if (v === undefined || v === '') {
    if (opts.required) throw new HttpError(422, `${name} in query is required`, OPENAPI_REQUIRED);
    return opts.fallback!;
  }
  const first: unknown = Array.isArray(v) ? v[0] : v;
  const s = typeof first === 'string' ? first : JSON.stringify(first);
  if (!/^[+-]?[0-9]+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new HttpError(422, `${name} in query must be of type int64: ${JSON.stringify(s)}`, OPENAPI_INVALID_TYPE);
  const n = Number(s);
  if (n < opts.min) throw new HttpError(422, `${name} in query should be greater than or equal to ${opts.min}`, OPENAPI_MIN);
  return n;
}

function fromVouch(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isVouchError(err, 'TLOG_ENTRY_INVALID')) {
    const status = typeof err.details?.['status'] === 'number' ? err.details['status'] : 400;
    const code = typeof err.details?.['code'] === 'number' ? err.details['code'] : status;
    return new HttpError(status, err.message, code);
  }
  if (isVouchError(err, 'TLOG_UNAVAILABLE')) return new HttpError(503, err.message);
  return new HttpError(500, 'Internal Server Error');
}

const UUID_PATTERN = '^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$';

export function createApp(log: EmbeddedLog, opts: ServerOptions = {}): express.Express {
  const app = express();
  const log_ = (opts.logger ?? logger()).child({ component: 'tlog.http' });
  const limit = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  const body = express.raw({ type: () => true, limit });

  const route = (fn: (req: Request, res: Response) => Promise<void> | void) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      await fn(req, res);
    } catch (err) {
      next(err);
    }
  };

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', treeSize: log.size });
  });

  app.post(
    '/api/v1/log/entries',
    body,
    route(async (req, res) => {
      const proposed = parseJsonBody(req, 'proposedEntry');
      const result = await log.submit(proposed);
      const location = `${req.baseUrl}${req.path.replace(/\/$/, '')}/${result.entry.entryId}`;
      if (result.status === 409) {
        throw new HttpError(409, `an equivalent entry already exists in the transparency log with UUID ${result.entry.entryId}`, 409, { Location: location });
      }
      log_.debug({ logIndex: result.entry.logIndex, uuid: result.uuid }, 'entry logged');
      res.status(201).set({ Location: location, ETag: result.entry.entryId }).json(toWire(result.entry));
    }),
  );

  app.get(
    '/api/v1/log/entries',
    route((req, res) => {
      const index = intParam(req, 'logIndex', { required: true, min: 0 });
      const entry = log.getByIndex(index);
      if (!entry) throw new HttpError(404, `no entry at log index ${index}`);
      res.json(toWire(entry));
    }),
  );

  app.get(
    '/api/v1/log/entries/:id',
    route((req, res) => {
      const id = String(req.params['id']);
      if (!new RegExp(UUID_PATTERN).test(id)) throw new HttpError(422, `entryUUID in path should match '${UUID_PATTERN}'`, OPENAPI_PATTERN);
      const entry = log.getByUuid(id);
      if (!entry) throw new HttpError(404, `no entry with UUID ${id}`);
      res.json(toWire(entry));
    }),
  );

  app.post(
    '/api/v1/log/entries/retrieve',
    body,
    route((req, res) => {
      const q = parseJsonBody(req, 'entry');
      if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new HttpError(400, 'parsing entry body failed: expected a JSON object');
      const { entryUUIDs, logIndexes, entries } = q as Record<string, unknown>;
      const list = (v: unknown, name: string): unknown[] => {
        if (v === undefined || v === null) return [];
        if (!Array.isArray(v)) throw new HttpError(422, `${name} in body must be of type array`, OPENAPI_INVALID_TYPE);
        return v;
      };
      const uuids = list(entryUUIDs, 'entryUUIDs');
      const indexes = list(logIndexes, 'logIndexes');
      const proposed = list(entries, 'entries');
      if (uuids.length + indexes.length + proposed.length > MAX_SEARCH_QUERIES) {
        throw new HttpError(422, `more than max allowed ${MAX_SEARCH_QUERIES} entries in request`);
      }
      const out: LogEntryResponse[] = [];
      for (const u of uuids) {
        if (typeof u !== 'string' || !new RegExp(UUID_PATTERN).test(u)) throw new HttpError(400, `invalid uuid ${String(u)}`);
        const e = log.getByUuid(u);
        if (e) out.push(toWire(e));
      }
      for (const p of proposed) {
        let leafHex: string;
        try {
          leafHex = hashLeaf(canonicalizeProposedEntry(p).body).toString('hex');
        } catch (err) {
          throw new HttpError(400, errorMessage(err));
        }
        const e = log.getByUuid(leafHex);
        if (e) out.push(toWire(e));
      }
      for (const i of indexes) {
        if (typeof i !== 'number' || !Number.isSafeInteger(i)) throw new HttpError(422, 'logIndexes in body must be of type int64', OPENAPI_INVALID_TYPE);
        if (i < 0) throw new HttpError(422, 'logIndexes in body should be greater than or equal to 0', OPENAPI_MIN);
        const e = log.getByIndex(i);
        if (e) out.push(toWire(e));
      }
      res.json(out);
    }),
  );

  app.get('/api/v1/log', (_req, res) => {
    res.json(log.info());
  });

  app.get('/api/v1/log/publicKey', (_req, res) => {
    res.type('application/x-pem-file').send(log.publicKeyPem);
  });

  app.get(
    '/api/v1/log/proof',
    route((req, res) => {
      const first = intParam(req, 'firstSize', { required: false, min: 1, fallback: 1 });
      const last = intParam(req, 'lastSize', { required: true, min: 1 });
      res.json(log.consistencyProof(first, last));
    }),
  );

  app.post(
    '/api/v1/index/retrieve',
    body,
    route((req, res) => {
      const q = parseJsonBody(req, 'query');
      if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new HttpError(400, 'parsing query body failed: expected a JSON object');
      const { hash, publicKey, email, operator } = q as Record<string, unknown>;
      if (hash !== undefined && typeof hash !== 'string') throw new HttpError(422, 'hash in body must be of type string', OPENAPI_INVALID_TYPE);
      if (email !== undefined && typeof email !== 'string') throw new HttpError(422, 'email in body must be of type string', OPENAPI_INVALID_TYPE);
      if (operator !== undefined && operator !== 'and' && operator !== 'or') throw new HttpError(422, 'operator in body should be one of [and or]', 606);
      if (publicKey !== undefined && (typeof publicKey !== 'object' || publicKey === null || typeof (publicKey as Record<string, unknown>)['format'] !== 'string')) {
        throw new HttpError(422, 'publicKey.format in body is required', OPENAPI_REQUIRED);
      }
      const query: SearchIndexQuery = {};
      if (hash !== undefined) query.hash = hash;
      if (email !== undefined) query.email = email;
      if (operator !== undefined) query.operator = operator;
      if (publicKey !== undefined) query.publicKey = publicKey as NonNullable<SearchIndexQuery['publicKey']>;
      res.json(log.searchIndex(query));
    }),
  );

  // known paths with another method: 405 as go-openapi answers
  const allowed: [RegExp, string[]][] = [
    [/^\/api\/v1\/log\/entries$/, ['GET', 'POST']],
    [/^\/api\/v1\/log\/entries\/retrieve$/, ['POST']],
    [/^\/api\/v1\/log\/entries\/[^/]+$/, ['GET']],
    [/^\/api\/v1\/log(\/publicKey|\/proof)?$/, ['GET']],
    [/^\/api\/v1\/index\/retrieve$/, ['POST']],
  ];
  app.use((req, _res, next) => {
    const hit = allowed.find(([re]) => re.test(req.path));
    if (hit) {
      next(new HttpError(405, `method ${req.method} is not allowed, but [${hit[1].join(',')}] are`, 405, { Allow: hit[1].join(',') }));
      return;
    }
    next(new HttpError(404, `path ${req.path} was not found`));
  });

   
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    let e: HttpError;
    const bodyErr = err as { type?: unknown; status?: unknown };
    if (bodyErr.type === 'entity.too.large') e = new HttpError(413, `request body is larger than the limit of ${limit} bytes`);
    else if (typeof bodyErr.type === 'string' && typeof bodyErr.status === 'number' && bodyErr.status < 500) e = new HttpError(bodyErr.status, errorMessage(err));
    else e = fromVouch(err);
    if (e.status >= 500) log_.error({ err }, 'request failed');
    const payload: RekorErrorBody = { code: e.code, message: e.message };
    res.status(e.status).set(e.headers).json(payload);
  });
  return app;
}

export interface RunningServer {
  /** base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  server: Server;
  /** stops accepting, lets requests in flight finish (up to graceMs), then closes connections; does not close the log */
  close(graceMs?: number): Promise<void>;
}

/** Serves the log on host:port (port 0 picks a free one). */
export async function serve(log: EmbeddedLog, host: string, port: number, opts: ServerOptions = {}): Promise<RunningServer> {
  const app = createApp(log, opts);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => {
      if (err) reject(err);
      else resolve(s);
    });
    s.once('error', reject);
  });
  server.keepAliveTimeout = 5000;
  const addr = server.address() as AddressInfo;
  const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${hostPart}:${addr.port}`,
    server,
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.closeAllConnections(); }, graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

