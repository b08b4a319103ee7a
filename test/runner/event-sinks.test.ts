import { expect } from 'chai';
import { CloudEvent, HTTP } from 'cloudevents';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isVouchError } from '../../src/common/errors.ts';
import { EventQueue, HttpSink, MemorySink } from '../../src/runner/events.ts';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real sink on 127.0.0.1:0; `answer` decides each response status (or undefined to never answer). */
async function startSink(answer: (n: number) => number | undefined): Promise<{ url: string; received: Received[]; close: () => Promise<void> }> {
  const received: Received[] = [];
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const status = answer(received.length);
      if (status === undefined) hanging.push(res);
      else res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/events`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

function sample(subject = 'run-1-build'): CloudEvent<unknown> {
  return new CloudEvent({
    type: 'dev.tekton.event.taskrun.started.v1',
    source: '/apis///namespaces/default//run-1-build',
    subject,
    datacontenttype: 'application/json',
    data: { taskRun: { metadata: { name: subject } } },
  });
}

describe('runner event sinks', () => {
  it('posts in binary mode with a bearer token; the SDK reads back the same event', async () => {
    const sink = await startSink(() => 202);
    try {
      const event = sample();
      await new HttpSink(sink.url, { token: 's3cret' }).send(event);
      expect(sink.received).to.have.length(1);
      const r = sink.received[0]!;
      expect(r.headers['authorization']).to.equal('Bearer s3cret');
      expect(r.headers['ce-type']).to.equal(event.type);
      expect(r.headers['ce-specversion']).to.equal('1.0');
      expect(r.headers['content-type']).to.match(/^application\/json/);
      const back = HTTP.toEvent({ headers: r.headers, body: r.body }) as CloudEvent<unknown>;
      expect(back.id).to.equal(event.id);
      expect(back.subject).to.equal('run-1-build');
      expect(back.data).to.deep.equal({ taskRun: { metadata: { name: 'run-1-build' } } });
    } finally {
      await sink.close();
    }
  });

  it('retries Tekton retryable statuses (503, 429) with backoff, then succeeds', async () => {
    const sink = await startSink((n) => (n === 1 ? 503 : n === 2 ? 429 : 200));
    try {
      await new HttpSink(sink.url, { backoffMs: 1 }).send(sample());
      expect(sink.received).to.have.length(3);
      // the same event each time
      expect(new Set(sink.received.map((r) => r.headers['ce-id'])).size).to.equal(1);
    } finally {
      await sink.close();
    }
  });

  it('never retries a 500, and says so without leaking the token', async () => {
    const sink = await startSink(() => 500);
    try {
      await new HttpSink(sink.url, { backoffMs: 1, token: 's3cret' }).send(sample());
      expect.fail('a 500 was taken as delivered');
    } catch (err) {
      expect(isVouchError(err, 'EVENT_DELIVERY_FAILED')).to.equal(true);
      expect((err as Error).message).to.include('HTTP 500').and.not.include('s3cret');
      expect(sink.received).to.have.length(1);
    } finally {
      await sink.close();
    }
  });

  it('gives up on an unreachable sink after its retries', async () => {
    const sink = await startSink(() => 200);
    const url = sink.url;
    await sink.close();
    try {
      await new HttpSink(url, { backoffMs: 1, retries: 2 }).send(sample());
      expect.fail('delivered to a closed port');
    } catch (err) {
      expect(isVouchError(err, 'EVENT_DELIVERY_FAILED')).to.equal(true);
      expect((err as Error).message).to.include('cannot reach the sink');
    }
  });

  it('rejects a sink that is not an http(s) URL', () => {
    expect(() => new HttpSink('ftp://x')).to.throw(/http\(s\) URL/);
    expect(() => new HttpSink('not a url')).to.throw(/http\(s\) URL/);
  });

  it('the queue never blocks the caller, keeps order per sink, and drains with a bounded wait', async () => {
    const memory = new MemorySink();
    const hanging = await startSink(() => undefined);
    try {
      const queue = new EventQueue([memory, new HttpSink(hanging.url, { attemptTimeoutMs: 60_000 })]);
      queue.emit(sample('a'));
      queue.emit(sample('b'));
      const result = await queue.drain(200);
      expect(memory.events.map((e) => e.subject)).to.deep.equal(['a', 'b']);
      expect(result.delivered).to.equal(2);
      expect(result.pending).to.equal(2);
    } finally {
      await hanging.close();
    }
  });
});
