import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { HTTP, type CloudEventV1 } from 'cloudevents';
import express, { type Request, type Response } from 'express';
import { VouchError, errorMessage, isVouchError } from '../common/errors.ts';
import type { Sidecar } from './sidecar.ts';
import { approvalsRouter, type ApprovalDesk } from './approvals.ts';

// The sidecar's HTTP face, where Tekton's config-events sink (or the runner's HTTP sink) points:
//   POST /events   a Tekton CloudEvent, binary or structured mode. 202 stored (durable before the answer), 200
//                  duplicate or irrelevant, 400 malformed, 401 no or wrong token (local mode; nothing is read),
//                  413 too large, 503 busy or unavailable (Tekton retries 503; it never retries a 500, so no
//                  retryable condition answers 500)
//   POST /approvals, GET /approvals/<ns>/<name>   human approvals (approvals.ts), when configured
//   GET /healthz   200 while the process serves
//   GET /readyz    200 while it takes events, 503 while shutting down
//   GET /metrics   Prometheus text format

export interface ServeOptions {
  /** bearer token every POST must carry (local mode); undefined: no token check (cluster mode re-reads objects) */
  token?: string;
  /** largest request body (default 4 MiB, Tekton objects are bounded by etcd's 1.5 MiB) */
  maxBodyBytes?: number;
  /** serve POST /approvals and GET /approvals/<ns>/<name> (docs/risk.md) */
  approvals?: ApprovalDesk;
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * The cloudevents SDK's JSON parser builds two ValidationErrors on every call, thrown or not, and capturing their
 * stack traces was the largest single cost of ingest over HTTP (the bench's ingest rate rose by about a fifth without
 * it). Nothing reads those stacks: an invalid event is answered 400 with the message. The call is synchronous, so the
 * lowered limit is restored before any other code runs.
 */
function toEventWithoutStacks(headers: Request['headers'], body: string): ReturnType<typeof HTTP.toEvent<unknown>> {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return HTTP.toEvent<unknown>({ headers, body });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

export function sidecarApp(sidecar: Sidecar, options: ServeOptions = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // answers are tiny per-request JSON that no client revalidates: hashing each for an ETag is pure cost
  app.set('etag', false);
  const maxBody = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const answer = (res: Response, status: number, body: Record<string, unknown>): void => {
    res.status(status).json(body);
  };

  // both sides are hashed so the comparison takes the same time whatever the lengths; the token's hash once
  const expectedToken = options.token === undefined ? undefined : sha256(options.token);
  const requireToken = (req: Request, res: Response, next: () => void): void => {
    if (expectedToken !== undefined) {
      const h = req.headers.authorization ?? '';
      const m = /^Bearer (.+)$/.exec(h);
      if (!m || !timingSafeEqual(sha256(m[1]!), expectedToken)) {
        sidecar.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'unauthorized' });
        res.setHeader('WWW-Authenticate', 'Bearer');
        answer(res, 401, { code: 'SIDECAR_UNAUTHORIZED', message: 'a valid bearer token is required' });
        return;
      }
    }
    next();
  };

  app.post(
    '/events',
    requireToken,
    express.raw({ type: () => true, limit: maxBody }),
    (req: Request, res: Response) => {
      let event: CloudEventV1<unknown>;
      try {
        const body = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
        const decoded = toEventWithoutStacks(req.headers, body);
        if (Array.isArray(decoded)) throw new VouchError('SIDECAR_EVENT_INVALID', 'batched CloudEvents are not accepted');
        event = decoded;
      } catch (err) {
        sidecar.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'invalid' });
        answer(res, 400, { code: 'SIDECAR_EVENT_INVALID', message: `not a CloudEvent: ${errorMessage(err)}` });
        return;
      }
      sidecar.ingest(event).then(
        (outcome) => {
          answer(res, outcome === 'accepted' ? 202 : 200, { outcome });
        },
        (err: unknown) => {
          if (isVouchError(err, 'SIDECAR_EVENT_INVALID')) answer(res, 400, err.toJSON());
          else if (isVouchError(err)) answer(res, 503, err.toJSON());
          else answer(res, 503, { code: 'SIDECAR_UNAVAILABLE', message: 'internal error; retry' });
        },
      );
    },
  );
  // human approvals (src/sidecar/approvals.ts): POST needs the token like /events, GET is open
  if (options.approvals) app.use(approvalsRouter(options.approvals, requireToken, maxBody));
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok\n');
  });
  app.get('/readyz', (_req, res) => {
    res.status(sidecar.ready ? 200 : 503).type('text/plain').send(sidecar.ready ? 'ready\n' : 'shutting down\n');
  });
  app.get('/metrics', (_req, res) => {
    res.type('text/plain; version=0.0.4').send(sidecar.metrics.text());
  });
  // body too large, or a body that cannot be read: the client may retry (413 is retried by Tekton) or not (400)
  app.use((err: unknown, _req: Request, res: Response, next: (e?: unknown) => void) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = (err as { status?: number }).status;
    if (status === 413) answer(res, 413, { code: 'SIDECAR_EVENT_INVALID', message: `request body over ${maxBody} bytes` });
    else if (typeof status === 'number' && status >= 400 && status < 500) answer(res, 400, { code: 'SIDECAR_EVENT_INVALID', message: errorMessage(err) });
    else answer(res, 503, { code: 'SIDECAR_UNAVAILABLE', message: 'internal error; retry' });
  });
  return app;
}

/** Serves the sidecar on host:port (port 0 picks one). */
export async function serveSidecar(sidecar: Sidecar, host: string, port: number, options: ServeOptions = {}): Promise<RunningServer> {
  const app = sidecarApp(sidecar, options);
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => {
      if (err) reject(err);
      else resolve(s);
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
