import { VouchError, errorMessage } from '../common/errors.ts';
import type { ConsistencyProofJSON, LogEntry, LogEntryAnon, LogInfo, SearchIndexQuery, SearchLogQuery } from './types.ts';

// A small Rekor v1 REST client (fetch). It speaks to a real Rekor or to `vouch log serve` alike.
// Failures are VouchErrors: TLOG_UNAVAILABLE (network, timeout, 408/429/5xx: worth retrying later) or TLOG_REJECTED
// (any other non-success answer: the request itself is wrong), with details {status, code?, message?}.
// It verifies nothing: see verify.ts (verifyLogEntry) for what a returned entry must pass.

export interface RekorClientOptions {
  /** per request, default 10 s */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface CreateEntryResult {
  status: 201 | 409;
  entry: LogEntry;
}

export class RekorClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(baseUrl: string, opts: RekorClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetchFn = opts.fetch ?? fetch;
  }

  /** POST /api/v1/log/entries; on 409 fetches the existing entry from the Location header. */
  async createEntry(proposedEntry: unknown): Promise<CreateEntryResult> {
    const res = await this.request('POST', '/api/v1/log/entries', proposedEntry, [201, 409]);
    if (res.status === 409) {
      const location = res.headers.get('location');
      const id = location?.split('/').pop();
      if (!id) throw new VouchError('TLOG_REJECTED', 'the log answered 409 without the Location of the existing entry', { details: { status: 409 } });
      const existing = await this.getEntry(id);
      if (!existing) throw new VouchError('TLOG_UNAVAILABLE', `the log answered 409 but has no entry ${id}`, { details: { status: 404 } });
      return { status: 409, entry: existing };
    }
    return { status: 201, entry: oneEntry(await res.json()) };
  }

  /** GET /api/v1/log/entries/{uuid}; undefined on 404. */
  async getEntry(uuid: string): Promise<LogEntry | undefined> {
    const res = await this.request('GET', `/api/v1/log/entries/${encodeURIComponent(uuid)}`, undefined, [200, 404]);
    return res.status === 404 ? undefined : oneEntry(await res.json());
  }

  /** GET /api/v1/log/entries?logIndex=N; undefined on 404. */
  async getByIndex(logIndex: number): Promise<LogEntry | undefined> {
    const res = await this.request('GET', `/api/v1/log/entries?logIndex=${logIndex}`, undefined, [200, 404]);
    return res.status === 404 ? undefined : oneEntry(await res.json());
  }

  async logInfo(): Promise<LogInfo> {
    return (await (await this.request('GET', '/api/v1/log', undefined, [200])).json()) as LogInfo;
  }

  async publicKey(): Promise<string> {
    return (await this.request('GET', '/api/v1/log/publicKey', undefined, [200])).text();
  }

  async consistencyProof(firstSize: number, lastSize: number): Promise<ConsistencyProofJSON> {
    return (await (await this.request('GET', `/api/v1/log/proof?firstSize=${firstSize}&lastSize=${lastSize}`, undefined, [200])).json()) as ConsistencyProofJSON;
  }

  /** POST /api/v1/index/retrieve: entry IDs matching a hash (`sha256:<hex>`) or public key. */
  async searchIndex(query: SearchIndexQuery): Promise<string[]> {
    return (await (await this.request('POST', '/api/v1/index/retrieve', query, [200])).json()) as string[];
  }

  /** POST /api/v1/log/entries/retrieve. */
  async retrieve(query: SearchLogQuery): Promise<LogEntry[]> {
    const list = (await (await this.request('POST', '/api/v1/log/entries/retrieve', query, [200])).json()) as unknown[];
    return list.map(oneEntry);
  }

  private async request(method: string, path: string, body: unknown, ok: number[]): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new VouchError('TLOG_UNAVAILABLE', `${method} ${url}: ${timeout ? `no answer within ${this.timeoutMs} ms` : errorMessage(err)}`, { cause: err, details: { url } });
    }
    if (ok.includes(res.status)) return res;
    let code: number | undefined;
    let message: string | undefined;
    try {
      const parsed = (await res.json()) as { code?: unknown; message?: unknown };
      if (typeof parsed.code === 'number') code = parsed.code;
      if (typeof parsed.message === 'string') message = parsed.message;
    } catch {
      // not JSON: keep the status
    }
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    throw new VouchError(retryable ? 'TLOG_UNAVAILABLE' : 'TLOG_REJECTED', `${method} ${url}: HTTP ${res.status}${message ? `: ${message}` : ''}`, {
      details: { status: res.status, ...(code !== undefined ? { code } : {}), ...(message !== undefined ? { message } : {}) },
    });
  }
}

/** Unpacks Rekor's {entryID: LogEntryAnon} into a LogEntry. */
export function oneEntry(data: unknown): LogEntry {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new VouchError('TLOG_REJECTED', 'the log answered something that is not a log entry');
  const pairs = Object.entries(data as Record<string, LogEntryAnon>);
  if (pairs.length !== 1) throw new VouchError('TLOG_REJECTED', `the log answered ${pairs.length} entries where one was expected`);
  const [entryId, anon] = pairs[0]!;
  if (!/^([0-9a-f]{64}|[0-9a-f]{80})$/.test(entryId) || typeof anon !== 'object' || anon === null) throw new VouchError('TLOG_REJECTED', 'the log answered a malformed log entry');
  return { ...anon, uuid: entryId.slice(-64), entryId };
}
