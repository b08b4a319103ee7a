// The local EventListener: an HTTP sink for GitHub webhooks that interprets the same EventListener, TriggerBindings
// and TriggerTemplates a cluster applies (tekton/triggers.ts) and hands each PipelineRun it renders to `start`
// (the CLI wires that to the code path of `vouch run`). Answers, so that a sender (and GitHub's delivery log) sees
// what happened: 202 with the PipelineRun names when a trigger fired; 401 without a signature, 403 with a wrong one
// (nothing started); 200 with the reasons when every trigger filtered the event out (e.g. a `closed` PR or `ping`);
// 400 for a body that is not JSON; 413 above the size limit; 422 when a fired trigger cannot render or plan a run.

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { VouchError, errorMessage } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import { processEvent, type SecretResolver, type TriggerSet } from '../tekton/triggers.ts';

export interface ListenerOptions {
  triggers: TriggerSet;
  /** metadata.name of the EventListener to serve */
  listener: string;
  secrets: SecretResolver;
  /** plans one rendered resource and starts it in the background; returns the PipelineRun's name */
  start: (resource: Record<string, unknown>, eventID: string) => Promise<string>;
  /** largest body accepted (GitHub caps payloads at 25 MB) */
  maxBodyBytes?: number;
}

export interface RunningListener {
  url: string;
  close(): Promise<void>;
}

const log = logger('listen');

/** Refuses an EventListener any of whose triggers would start runs for unauthenticated requests. */
export function requireAuthenticatedTriggers(triggers: TriggerSet, listener: string): void {
  const el = triggers.listeners.get(listener);
  if (!el) throw new VouchError('USAGE', `no EventListener named "${listener}" (found: ${[...triggers.listeners.keys()].join(', ') || 'none'})`);
  for (const [i, t] of (el.spec.triggers ?? []).entries()) {
    const gh = t.interceptors?.[0];
    const signed = gh?.ref.name === 'github' && gh.params?.some((p) => p.name === 'secretRef');
    if (!signed) {
      throw new VouchError('CONFIG_INVALID', `EventListener ${listener}: trigger ${t.name ?? String(i)} must start with a github interceptor with a secretRef; vouch listen does not start runs for unauthenticated requests`);
    }
  }
}

export async function startListener(host: string, port: number, o: ListenerOptions): Promise<RunningListener> {
  requireAuthenticatedTriggers(o.triggers, o.listener);
  const maxBody = o.maxBodyBytes ?? 25 * 1024 * 1024;
  const server: Server = createServer((req, res) => {
    handle(req, res, o, maxBody).catch((err: unknown) => {
      log.error({ err: errorMessage(err) }, 'webhook handling failed');
      answer(res, 500, { message: 'internal error' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${String(addr.port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, o: ListenerOptions, maxBody: number): Promise<void> {
  if (req.method === 'GET' && (req.url === '/live' || req.url === '/ready')) {
    answer(res, 200, { status: 'ok' });
    return;
  }
  if (req.method !== 'POST') {
    answer(res, 405, { message: 'POST a webhook delivery' });
    return;
  }
  const body = await readBody(req, maxBody);
  if (body === undefined) {
    answer(res, 413, { message: `body over ${String(maxBody)} bytes` });
    return;
  }
  const delivery = req.headers['x-github-delivery'];
  const eventID = typeof delivery === 'string' && /^[0-9a-fA-F-]{1,64}$/.test(delivery) ? delivery : randomUUID();
  let outcomes;
  try {
    outcomes = processEvent(o.triggers, o.listener, { headers: req.headers, body, requestURL: `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, eventID }, o.secrets);
  } catch (err) {
    if (err instanceof VouchError && err.code === 'INPUT_INVALID') {
      answer(res, 400, { message: err.message });
      return;
    }
    if (err instanceof VouchError && err.code === 'TRIGGER_FAILED') {
      log.warn({ eventID, err: err.message }, 'trigger failed');
      answer(res, 422, { eventID, message: err.message });
      return;
    }
    throw err;
  }
  const fired = outcomes.filter((x) => x.fired);
  if (fired.length === 0) {
    const refused = outcomes.find((x) => !x.fired && x.why !== 'filtered');
    const reasons = outcomes.map((x) => (x.fired ? '' : `${x.trigger}: ${x.reason}`));
    if (refused && !refused.fired) {
      // no details beyond the reason: the sender is not authenticated
      log.warn({ eventID, reason: refused.reason }, 'webhook refused');
      answer(res, refused.why === 'unauthenticated' ? 401 : 403, { message: refused.reason });
      return;
    }
    log.info({ eventID, reasons }, 'event filtered out; nothing started');
    answer(res, 200, { eventID, ignored: reasons });
    return;
  }
  const pipelineRuns: string[] = [];
  try {
    for (const f of fired) for (const r of f.resources) pipelineRuns.push(await o.start(r, eventID));
  } catch (err) {
    log.warn({ eventID, err: errorMessage(err) }, 'could not start a run');
    answer(res, 422, { eventID, pipelineRuns, message: errorMessage(err) });
    return;
  }
  log.info({ eventID, pipelineRuns }, 'runs started');
  answer(res, 202, { eventListener: o.listener, eventID, pipelineRuns });
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) over = true;
      else chunks.push(c);
    });
    req.on('end', () => {
      resolve(over ? undefined : Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}
