// Tekton's CloudEvents from the runner, and where they go: an HTTP sink (binary mode, as Tekton's events controller posts them) or an
// in-process sink with the same interface. Delivery follows Tekton's rules (retry with exponential backoff only on
// 404/413/425/429/502/503/504 and network errors; a 500 is final) and never blocks the pipeline: the EventQueue sends
// in the background and the run drains it at the end with a bounded wait.
import { CloudEvent, HTTP } from 'cloudevents';
import { VouchError, errorMessage } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import { eventAttributes, eventData } from '../tekton/events.ts';
import type { PipelineRun, TaskRun } from '../tekton/types.ts';

/**
 * The CloudEvent for a run's current condition, exactly as Tekton's events controller builds it: attributes and the
 * v1beta1 payload come from the tekton room (tekton/events.ts), the CloudEvents SDK makes it an event.
 */
export function cloudEventFor(run: TaskRun | PipelineRun): CloudEvent<unknown> {
  const attrs = eventAttributes(run);
  return new CloudEvent<unknown>({ ...attrs, time: new Date().toISOString(), data: eventData(run) }, true);
}

/** Anything that accepts Tekton's CloudEvents. The sidecar's in-process ingest implements this too. */
export interface EventSink {
  send(event: CloudEvent<unknown>): Promise<void>;
  /** stop delivering (in-flight attempts and retries end); called when the run's bounded wait is over */
  close?(): void;
}

/** An in-process sink that keeps what it receives (the embedded path and tests read it). */
export class MemorySink implements EventSink {
  readonly events: CloudEvent<unknown>[] = [];
  send(event: CloudEvent<unknown>): Promise<void> {
    this.events.push(event);
    return Promise.resolve();
  }
}

/** Statuses Tekton's sender (cloudevents sdk-go with retries) treats as worth another try. */
export const RETRYABLE_STATUSES: readonly number[] = [404, 413, 425, 429, 502, 503, 504];

export interface HttpSinkOptions {
  /** bearer token the sink checks, so that only this runner can inject events */
  token?: string;
  /** retries after the first attempt (Tekton: 10) */
  retries?: number;
  /** first backoff delay in ms, doubled each retry (20 ms gives Tekton's ≈20 s in total) */
  backoffMs?: number;
  /** per-attempt timeout in ms */
  attemptTimeoutMs?: number;
}

export class HttpSink implements EventSink {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #attemptTimeoutMs: number;
  readonly #closed = new AbortController();

  constructor(url: string, options: HttpSinkOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new VouchError('USAGE', `--sink must be an http(s) URL, got ${JSON.stringify(url)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new VouchError('USAGE', `--sink must be an http(s) URL, got ${JSON.stringify(url)}`);
    }
    this.url = url;
    this.#token = options.token;
    this.#retries = options.retries ?? 10;
    this.#backoffMs = options.backoffMs ?? 20;
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
  }

  async send(event: CloudEvent<unknown>): Promise<void> {
    const message = HTTP.binary(event);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(message.headers)) {
      if (typeof value === 'string') headers[name] = value;
    }
    if (this.#token) headers['authorization'] = `Bearer ${this.#token}`;
    const body = typeof message.body === 'string' ? message.body : JSON.stringify(message.body);
    let lastProblem = '';
    for (let attempt = 0; attempt <= this.#retries && !this.#closed.signal.aborted; attempt++) {
      if (attempt > 0) await sleep(this.#backoffMs * 2 ** (attempt - 1), this.#closed.signal);
      let status: number;
      try {
        const signal = AbortSignal.any([this.#closed.signal, AbortSignal.timeout(this.#attemptTimeoutMs)]);
        const res = await fetch(this.url, { method: 'POST', headers, body, signal });
        status = res.status;
        await res.arrayBuffer();
      } catch (err) {
        lastProblem = `cannot reach the sink: ${errorMessage(err)}`;
        continue;
      }
      if (status >= 200 && status < 300) return;
      lastProblem = `the sink answered HTTP ${status}`;
      if (!RETRYABLE_STATUSES.includes(status)) break;
    }
    if (this.#closed.signal.aborted) lastProblem = 'the run ended before the sink accepted it';
    throw new VouchError('EVENT_DELIVERY_FAILED', `CloudEvent ${event.type} for ${String(event.subject)} not delivered to ${this.url}: ${lastProblem}`, {
      details: { type: event.type, subject: event.subject, id: event.id },
    });
  }

  close(): void {
    this.#closed.abort();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

export interface DrainResult {
  delivered: number;
  failed: number;
  /** still in flight when the bounded wait ended */
  pending: number;
}

/**
 * Sends events in the background, in emission order per sink (the sidecar gets a TaskRun's started before its
 * successful even though Tekton itself promises no order), without ever making the pipeline wait.
 */
export class EventQueue {
  readonly #sinks: EventSink[];
  readonly #tails: Promise<void>[];
  #delivered = 0;
  #failed = 0;
  #pending = 0;
  readonly #log = logger('runner.events');

  constructor(sinks: EventSink[]) {
    this.#sinks = sinks;
    this.#tails = sinks.map(() => Promise.resolve());
  }

  get size(): number {
    return this.#sinks.length;
  }

  emit(event: CloudEvent<unknown>): void {
    this.#sinks.forEach((sink, i) => {
      this.#pending++;
      this.#tails[i] = this.#tails[i]!.then(async () => {
        try {
          await sink.send(event);
          this.#delivered++;
        } catch (err) {
          this.#failed++;
          this.#log.warn({ type: event.type, subject: event.subject, err: errorMessage(err) }, 'CloudEvent dropped');
        } finally {
          this.#pending--;
        }
      });
    });
  }

  /**
   * Waits for every queued event, at most `timeoutMs`; then closes the sinks, so what is still pending is dropped
   * (and counted) rather than keeping the process alive.
   */
  async drain(timeoutMs: number): Promise<DrainResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.#tails), timeout]);
    clearTimeout(timer);
    const result = { delivered: this.#delivered, failed: this.#failed, pending: this.#pending };
    for (const sink of this.#sinks) sink.close?.();
    return result;
  }
}
