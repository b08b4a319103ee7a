// The CloudEvents a local run sends, received by a real HTTP sink that parses them with the CloudEvents SDK and
// compared with Tekton's documented example (../shared/fixtures/tekton/cloudevent-taskrun-unknown.*).
import { expect } from 'chai';
import { HTTP, type CloudEvent } from 'cloudevents';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { HttpSink, MemorySink } from '../../src/runner/events.ts';
import { SHARED } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runLocal } from '../../src/runner/index.ts';
import { FIXTURES, runFixture } from './helpers.ts';

const FIXTURE_HEADERS = JSON.parse(readFileSync(join(SHARED, 'fixtures/tekton/cloudevent-taskrun-unknown.headers.json'), 'utf8')) as Record<string, string>;
const FIXTURE_DATA = JSON.parse(readFileSync(join(SHARED, 'fixtures/tekton/cloudevent-taskrun-unknown.data.v1beta1.json'), 'utf8')) as {
  taskRun: { metadata: Record<string, unknown>; spec: Record<string, unknown>; status: Record<string, unknown> & { conditions: Record<string, unknown>[]; steps: Record<string, unknown>[] } };
};

interface Received {
  headers: Record<string, string | string[] | undefined>;
  event: CloudEvent<unknown>;
}

type Data = { taskRun?: Record<string, Record<string, unknown>>; pipelineRun?: Record<string, Record<string, unknown>> };

describe('vouch run: CloudEvents', function () {
  this.timeout(30_000);
  const TOKEN = 'runner-token-for-tests';
  let server: Server;
  let url = '';
  let received: Received[] = [];
  let rejected = 0;
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        // the sink authenticates the runner: events without its token are refused
        if (req.headers['authorization'] !== `Bearer ${TOKEN}`) {
          rejected++;
          res.writeHead(401).end();
          return;
        }
        const event = HTTP.toEvent({ headers: req.headers, body }) as CloudEvent<unknown>;
        received.push({ headers: req.headers, event });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => { resolve(); })));
  let root = '';
  beforeEach(() => {
    root = tempDir('vouch-events-');
    received = [];
    rejected = 0;
  });
  afterEach(() => { rmSync(root, { recursive: true, force: true }); });

  it('sends Tekton event types, attributes and v1beta1 data for every TaskRun and PipelineRun transition', async () => {
    const memory = new MemorySink();
    const r = await runFixture('results.yaml', join(root, 'run'), { sinks: [new HttpSink(url, { token: TOKEN }), memory] });
    expect(r.succeeded).to.equal(true);
    expect(r.events.failed).to.equal(0);
    expect(received.length).to.equal(memory.events.length);
    expect(received.map((x) => x.event.id)).to.deep.equal(memory.events.map((e) => e.id));

    const prName = r.pipelineRun.metadata.name!;
    const types = (subject: string): string[] => received.filter((x) => x.event.subject === subject).map((x) => x.event.type);
    for (const task of ['produce', 'consume']) {
      expect(types(`${prName}-${task}`)).to.deep.equal([
        'dev.tekton.event.taskrun.started.v1',
        'dev.tekton.event.taskrun.running.v1',
        'dev.tekton.event.taskrun.successful.v1',
      ]);
    }
    const prTypes = types(prName);
    expect(prTypes[0]).to.equal('dev.tekton.event.pipelinerun.started.v1');
    expect(prTypes.at(-1)).to.equal('dev.tekton.event.pipelinerun.successful.v1');
    expect(prTypes.slice(1, -1).every((t) => t === 'dev.tekton.event.pipelinerun.running.v1')).to.equal(true);

    // attributes: the same headers as Tekton's binary-mode example, with the same shapes
    const tr = received.find((x) => x.event.subject === `${prName}-produce`)!;
    for (const h of Object.keys(FIXTURE_HEADERS).filter((k) => k !== '_source')) {
      expect(tr.headers, h).to.have.property(h.toLowerCase());
    }
    expect(tr.headers['ce-specversion']).to.equal(FIXTURE_HEADERS['Ce-Specversion']);
    expect(tr.headers['content-type']).to.match(/^application\/json/);
    expect(tr.event.id).to.match(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(tr.event.source).to.match(/^\/apis\/[^/]*\/[^/]*\/namespaces\/default\/[^/]*\/[a-z0-9-]+$/);
    expect(tr.event.source.endsWith(`/${prName}-produce`)).to.equal(true);
    expect(Date.parse(String(tr.event.time))).to.be.a('number').and.not.NaN;

    // data: {"taskRun": v1beta1 TaskRun} with the fields of Tekton's example
    const data = tr.event.data as Data;
    expect(Object.keys(data)).to.deep.equal(Object.keys(FIXTURE_DATA));
    const taskRun = data.taskRun!;
    for (const k of ['metadata', 'spec', 'status']) expect(taskRun).to.have.property(k);
    for (const k of ['name', 'namespace', 'uid', 'labels', 'creationTimestamp']) expect(taskRun['metadata']).to.have.property(k);
    expect(taskRun['metadata']!['labels']).to.include({ 'app.kubernetes.io/managed-by': 'tekton-pipelines', 'tekton.dev/pipelineTask': 'produce', 'tekton.dev/pipelineRun': prName });
    for (const k of ['serviceAccountName', 'timeout']) expect(taskRun['spec']).to.have.property(k);
    const cond = (taskRun['status']!['conditions'] as Record<string, unknown>[])[0]!;
    expect(Object.keys(cond).sort()).to.deep.equal(Object.keys(FIXTURE_DATA.taskRun.status.conditions[0]!).sort());
    for (const k of ['podName', 'startTime', 'taskSpec']) expect(taskRun['status']).to.have.property(k);

    // the successful event carries v1beta1 results (taskResults), not v1's results
    const done = received.find((x) => x.event.subject === `${prName}-produce` && x.event.type.endsWith('successful.v1'))!;
    const status = (done.event.data as Data).taskRun!['status']!;
    expect(status['taskResults']).to.deep.include({ name: 'greeting', type: 'string', value: 'hello world' });
    expect(status).not.to.have.property('results');
    expect((status['steps'] as Record<string, unknown>[])[0]).to.include({ name: 'write', container: 'step-write' });

    // the PipelineRun's last event: pipelineResults and childReferences
    const last = received.filter((x) => x.event.subject === prName).at(-1)!;
    const prStatus = (last.event.data as Data).pipelineRun!['status']!;
    expect(prStatus['pipelineResults']).to.deep.include({ name: 'greeting', value: 'hello world' });
    expect((prStatus['childReferences'] as unknown[]).length).to.equal(2);
    expect((prStatus['conditions'] as Record<string, unknown>[])[0]).to.include({ status: 'True', reason: 'Succeeded' });
  });

  it('sends failed events for a failing TaskRun and PipelineRun', async () => {
    const memory = new MemorySink();
    const r = await runFixture('finally.yaml', join(root, 'run'), { sinks: [memory] });
    const prName = r.pipelineRun.metadata.name!;
    const boom = memory.events.filter((e) => e.subject === `${prName}-boom`).map((e) => e.type);
    expect(boom.at(-1)).to.equal('dev.tekton.event.taskrun.failed.v1');
    const prEvents = memory.events.filter((e) => e.subject === prName);
    expect(prEvents.at(-1)!.type).to.equal('dev.tekton.event.pipelinerun.failed.v1');
    // skipped tasks have no TaskRun and so no events, as on a cluster
    expect(memory.events.some((e) => e.subject === `${prName}-downstream`)).to.equal(false);
  });

  it('runLocal (the embedded path) delivers to an in-process sink with the same interface', async () => {
    const memory = new MemorySink();
    const out = await runLocal({
      pipelineFile: join(FIXTURES, 'continue.yaml'),
      runDir: join(root, 'run'),
      sinks: [memory],
      images: { taskImage: 'ghcr.io/vouch-dev/vouch', hostImages: ['docker.io/library/busybox*'] },
    });
    expect(out.succeeded).to.equal(true);
    expect(memory.events.map((e) => e.type)).to.deep.equal([
      'dev.tekton.event.pipelinerun.started.v1',
      'dev.tekton.event.pipelinerun.running.v1',
      'dev.tekton.event.taskrun.started.v1',
      'dev.tekton.event.taskrun.running.v1',
      'dev.tekton.event.taskrun.successful.v1',
      'dev.tekton.event.pipelinerun.successful.v1',
    ]);
    expect(memory.events.at(-1)!.subject).to.equal(out.pipelineRunName);
  });

  it('a sink that refuses the runner (wrong token) loses the events but never blocks or fails the run', async () => {
    const r = await runFixture('continue.yaml', join(root, 'run'), { sinks: [new HttpSink(url, { token: 'wrong', retries: 1, backoffMs: 1 })] });
    expect(r.succeeded).to.equal(true);
    expect(received).to.have.length(0);
    expect(rejected).to.be.greaterThan(0);
    expect(r.events.failed).to.be.greaterThan(0);
  });
});
