import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { LocalStore } from '../../src/store/local.ts';
import { SHARED } from '../helpers/cli.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { EventQueue, HttpSink, cloudEventFor, type EventSink } from '../../src/runner/events.ts';
import { toV1beta1PipelineRun, toV1beta1TaskRun } from '../../src/tekton/events.ts';
import type { TaskRun } from '../../src/tekton/types.ts';
import { eventFor, eventsOf, harness, inState, makeRun, post, sha, TOKEN, verifiedRecords, type Harness } from './helpers.ts';

const journalSize = (h: Harness): number => statSync(join(h.dir, 'data', 'sidecar.journal')).size;

describe('sidecar: events in, one verified attestation per PipelineRun out', function () {
  this.timeout(30_000);
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it("events from the runner's HTTP sink -> exactly one bundle in the store that verifies, subject = IMAGE_URL/IMAGE_DIGEST", async () => {
    h = await harness();
    const set = makeRun('build', 3);
    const sink = new HttpSink(`${h.url}/events`, { token: TOKEN, retries: 2, backoffMs: 5 });
    for (const run of [inState(set.pr, 'started'), ...set.trs.map((t) => inState(t, 'started')), ...set.trs, set.pr]) await sink.send(cloudEventFor(run));
    await h.sidecar.idle();
    const records = await verifiedRecords(h, set);
    expect(records).to.have.length(1);
    expect(records[0]!.runUid).to.equal(set.pr.metadata.uid);
    expect(records[0]!.logEntry?.logIndex).to.equal(0);
    expect(h.log.size).to.equal(1);
    expect(h.sidecar.metrics.get('vouch_sidecar_attestations_signed_total')).to.equal(1);
    expect(h.sidecar.metrics.get('vouch_sidecar_events_accepted_total')).to.equal(8);
  });

  it('structured mode and v1 payloads read the same as binary mode and v1beta1', async () => {
    h = await harness();
    const set = makeRun('v1-structured', 1);
    for (const ev of eventsOf(set).slice(0, -1)) expect(await post(h.url, ev, TOKEN, 'structured')).to.equal(202);
    // the PipelineRun's end with a tekton.dev/v1 payload (status.results, not pipelineResults)
    const v1 = eventFor(set.pr).cloneWith({ data: { pipelineRun: structuredClone(set.pr) } }, true);
    expect(await post(h.url, v1)).to.equal(202);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, set)).to.have.length(1);
  });

  it("Tekton's documented event (fixtures/tekton/cloudevent-taskrun-unknown) reads; a standalone TaskRun is not attested", async () => {
    h = await harness();
    const fixture = join(SHARED, 'fixtures/tekton/cloudevent-taskrun-unknown');
    const headers = Object.fromEntries(Object.entries(JSON.parse(readFileSync(`${fixture}.headers.json`, 'utf8')) as Record<string, string>).filter(([k]) => !k.startsWith('_')));
    const body = readFileSync(`${fixture}.data.v1beta1.json`, 'utf8');
    const send = async (b: string, hd: Record<string, string>): Promise<number> => (await fetch(`${h.url}/events`, { method: 'POST', headers: { ...hd, authorization: `Bearer ${TOKEN}` }, body: b })).status;
    expect(await send(body, headers)).to.equal(200); // no PipelineRun: nothing to wait for
    // the same TaskRun as a child of a PipelineRun: held until the PipelineRun comes
    const data = JSON.parse(body) as { taskRun: { metadata: { labels: Record<string, string> } } };
    data.taskRun.metadata.labels['tekton.dev/pipelineRun'] = 'curl-pipeline';
    data.taskRun.metadata.labels['tekton.dev/pipelineRunUID'] = 'b0000000-0000-4000-8000-000000000001';
    expect(await send(JSON.stringify(data), { ...headers, 'Ce-Id': 'another-id' })).to.equal(202);
    expect(h.sidecar.metrics.get('vouch_sidecar_waiting_runs')).to.equal(1);
  });

  it('a token missing or wrong gets 401 and nothing is stored', async () => {
    h = await harness();
    const set = makeRun('auth', 1);
    const before = journalSize(h);
    for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1), '']) {
      for (const ev of eventsOf(set)) expect(await post(h.url, ev, token)).to.equal(401);
    }
    const res = await fetch(`${h.url}/events`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }, body: '{}' });
    expect(res.status).to.equal(401);
    expect(journalSize(h)).to.equal(before);
    expect(h.sidecar.metrics.get('vouch_sidecar_events_accepted_total')).to.equal(0);
    expect(await h.store.list(set.image.sha256)).to.deep.equal([]);
    // the runner's sink with a wrong token: 401 is final, reported as not delivered
    const sink = new HttpSink(`${h.url}/events`, { token: 'nope', retries: 1, backoffMs: 1 });
    let failed = false;
    await sink.send(eventFor(set.pr)).catch(() => (failed = true));
    expect(failed).to.equal(true);
    expect(journalSize(h)).to.equal(before);
  });

  it('malformed requests get 400 and change nothing', async () => {
    const stackLimit = Error.stackTraceLimit;
    h = await harness();
    const before = journalSize(h);
    const set = makeRun('bad', 1);
    const good = eventFor(set.trs[0]!);
    const bad = [
      good.cloneWith({ type: 'dev.tekton.event.nonsense.v1' }),
      good.cloneWith({ data: { taskRun: { spec: {} } } }, true),
      good.cloneWith({ data: { notARun: {} } }, true),
      good.cloneWith({ data: { pipelineRun: toV1beta1PipelineRun(set.pr) } }, true), // taskrun type with a PipelineRun
      good.cloneWith({ data: { taskRun: { ...toV1beta1TaskRun(set.trs[0]!), metadata: { name: 'no-uid' } } } }, true),
    ];
    for (const ev of bad) expect(await post(h.url, ev)).to.equal(400);
    const raw = await fetch(`${h.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'x', 'ce-source': '/x', 'ce-type': 'dev.tekton.event.taskrun.successful.v1' }, body: '{not json' });
    expect(raw.status).to.equal(400);
    expect(((await raw.json()) as { message: string }).message).to.match(/not a CloudEvent: .*JSON/);
    // the parse runs with stack capture off (server.ts): the process's own limit is back after a thrown parse
    expect(Error.stackTraceLimit).to.equal(stackLimit);
    const notCe = await fetch(`${h.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{}' });
    expect(notCe.status).to.equal(400);
    const huge = await fetch(`${h.url}/events`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': 'y', 'ce-source': '/x', 'ce-type': 'dev.tekton.event.taskrun.successful.v1' }, body: 'x'.repeat(5 * 1024 * 1024) });
    expect(huge.status).to.equal(413);
    expect(journalSize(h)).to.equal(before);
  });

  it('duplicates (same id, or same uid + state) change nothing; out-of-order delivery gives the same one attestation', async () => {
    h = await harness();
    const set = makeRun('dups', 3);
    const events = eventsOf(set);
    // the PipelineRun's end first, children's ends reversed, starts last
    const order = [events.at(-1)!, ...events.slice(4, 7).reverse(), ...events.slice(0, 4)];
    for (const ev of order) expect(await post(h.url, ev)).to.be.oneOf([200, 202]);
    await h.sidecar.idle(); // the attestation's own journal records are written; from here on nothing may change it
    const size = journalSize(h);
    for (const ev of events) expect(await post(h.url, ev)).to.equal(200); // same ids
    for (const run of [...set.trs, set.pr]) expect(await post(h.url, eventFor(run))).to.equal(200); // fresh ids, same uid + state
    expect(journalSize(h)).to.equal(size);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, set)).to.have.length(1);
    expect(h.log.size).to.equal(1);
    // concurrent copies of one new event: stored once
    const other = makeRun('dups2', 1);
    const ev = eventFor(other.trs[0]!);
    const statuses = await Promise.all(Array.from({ length: 10 }, () => post(h.url, ev)));
    expect(statuses.filter((s) => s === 202)).to.have.length(1);
    expect(statuses.filter((s) => s === 200)).to.have.length(9);
  });

  it('a started after a successful is ignored; a tampered re-send of a finished run changes nothing', async () => {
    h = await harness();
    const set = makeRun('late', 2);
    for (const tr of set.trs) expect(await post(h.url, eventFor(tr))).to.equal(202);
    expect(await post(h.url, eventFor(inState(set.trs[0]!, 'started')))).to.equal(200);
    // the same TaskRun finished again with another image digest: the first terminal state wins
    const tampered = structuredClone(set.trs[1]!) as TaskRun & { status: { results: { name: string; value: string }[] } };
    tampered.status.results[1]!.value = `sha256:${sha('evil')}`;
    expect(await post(h.url, eventFor(tampered))).to.equal(200);
    expect(await post(h.url, eventFor(set.pr))).to.equal(202);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, set)).to.have.length(1);
    expect(await h.store.list(sha('evil'))).to.deep.equal([]);
    expect(h.sidecar.metrics.get('vouch_sidecar_events_ignored_total')).to.equal(1);
  });

  it('a forged child (not in childReferences, or labels that disagree with its owner) is ignored with a warning', async () => {
    h = await harness();
    const set = makeRun('forge', 2);
    const forged = structuredClone(set.trs[1]!) as TaskRun & { status: { results: { name: string; value: string }[] } };
    forged.metadata.name = 'forge-intruder';
    forged.metadata.uid = 'a0000000-0000-4000-8000-000000000001';
    forged.status.results[1]!.value = `sha256:${sha('intruder')}`;
    // before the PipelineRun is known it waits; the PipelineRun's childReferences then exclude it
    expect(await post(h.url, eventFor(forged))).to.equal(202);
    const mismatched = structuredClone(set.trs[0]!);
    mismatched.metadata.uid = 'a0000000-0000-4000-8000-000000000002';
    mismatched.metadata.labels!['tekton.dev/pipelineRunUID'] = 'a0000000-0000-4000-8000-00000000ffff';
    expect(await post(h.url, eventFor(mismatched))).to.equal(200);
    for (const tr of set.trs) expect(await post(h.url, eventFor(tr))).to.equal(202);
    expect(await post(h.url, eventFor(set.pr))).to.equal(202);
    // after it: ignored at once
    const late = structuredClone(forged);
    late.metadata.uid = 'a0000000-0000-4000-8000-000000000003';
    late.metadata.name = 'forge-intruder-2';
    expect(await post(h.url, eventFor(late))).to.equal(200);
    await h.sidecar.idle();
    const records = await verifiedRecords(h, set);
    expect(records).to.have.length(1);
    expect(await h.store.list(sha('intruder'))).to.deep.equal([]);
    // the intruder (dropped when the PipelineRun arrived), the mismatched labels, the late intruder
    expect(h.sidecar.metrics.get('vouch_sidecar_events_forged_total')).to.equal(3);
  });

  it('failed PipelineRuns are not attested by default; with attestFailedRuns they are', async () => {
    h = await harness();
    const failed = makeRun('failed', 2, 'failed');
    for (const ev of eventsOf(failed)) await post(h.url, ev);
    await h.sidecar.idle();
    expect(await h.store.list(failed.image.sha256)).to.deep.equal([]);
    expect(h.log.size).to.equal(0);
    expect(h.sidecar.metrics.get('vouch_sidecar_attestations_skipped_total')).to.equal(1);
    await h.restart({ attestFailedRuns: true });
    const again = makeRun('failed2', 2, 'failed');
    for (const ev of eventsOf(again)) await post(h.url, ev);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, again)).to.have.length(1);
    // the first one stays not attested: the decision was recorded
    expect(await h.store.list(failed.image.sha256)).to.deep.equal([]);
  });

  it('a run without subjects (no IMAGE_URL/IMAGE_DIGEST) cannot be attested: given up once, durably', async () => {
    h = await harness();
    const set = makeRun('nosubject', 1);
    (set.trs[0]!.status as { results?: unknown[] }).results = [];
    for (const ev of eventsOf(set)) await post(h.url, ev);
    expect(await h.sidecar.idle(10_000)).to.equal(true);
    expect(h.sidecar.metrics.get('vouch_sidecar_attestations_failed_total')).to.equal(1);
    expect(h.log.size).to.equal(0);
    await h.restart();
    expect(await h.sidecar.idle(10_000)).to.equal(true);
    expect(h.sidecar.metrics.get('vouch_sidecar_attestations_failed_total')).to.equal(0);
    expect(h.log.size).to.equal(0);
  });

  it('events for unknown PipelineRuns wait, bounded in count (503) and age (given up durably)', async () => {
    let now = 1_000_000;
    h = await harness({ maxWaitingRuns: 2, maxWaitingMs: 60_000, now: () => now });
    const a = makeRun('wait-a', 1);
    const b = makeRun('wait-b', 1);
    const c = makeRun('wait-c', 1);
    expect(await post(h.url, eventFor(a.trs[0]!))).to.equal(202);
    expect(await post(h.url, eventFor(b.trs[0]!))).to.equal(202);
    expect(await (await fetch(`${h.url}/metrics`)).text()).to.match(/^vouch_sidecar_inbox_depth 2$/m);
    const size = journalSize(h);
    expect(await post(h.url, eventFor(c.trs[0]!))).to.equal(503);
    expect(journalSize(h)).to.equal(size);
    // a waiting run still takes its events and finishes
    expect(await post(h.url, eventFor(a.pr))).to.equal(202);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, a)).to.have.length(1);
    expect(await post(h.url, eventFor(c.trs[0]!))).to.equal(202);
    // b waits past the bound: given up, also after a restart
    now += 61_000;
    await h.sidecar.expire();
    expect(h.sidecar.metrics.get('vouch_sidecar_runs_expired_total')).to.equal(2);
    await h.restart({ maxWaitingRuns: 2, maxWaitingMs: 60_000, now: () => now });
    expect(await post(h.url, eventFor(b.pr))).to.equal(200);
    await h.sidecar.idle();
    expect(await h.store.list(b.image.sha256)).to.deep.equal([]);
    expect(h.log.size).to.equal(1);
  });

  it('the events held for one run are bounded too: a flood of TaskRuns claiming one PipelineRun gets 503', async () => {
    h = await harness({ maxWaitingEvents: 5 });
    const set = makeRun('flood', 1);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const tr = structuredClone(set.trs[0]!);
      tr.metadata.name = `flood-fake-${i}`;
      tr.metadata.uid = `c0000000-0000-4000-8000-00000000000${i}`;
      statuses.push(await post(h.url, eventFor(tr)));
    }
    expect(statuses).to.deep.equal([202, 202, 202, 202, 202, 503, 503, 503]);
    expect(h.sidecar.metrics.get('vouch_sidecar_inbox_depth')).to.equal(5);
  });

  it('back-pressure: with the log unreachable work waits; beyond maxQueue events get 503; then everything arrives', async () => {
    h = await harness();
    await h.stop();
    // a log that refuses connections (a port nothing listens on), then the real one after a restart
    const { createServer } = await import('node:net');
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => { r(); }));
    await h.restart({ tlog: { url: `http://127.0.0.1:${port}`, trustedRoot: h.trustedRoot }, maxQueue: 1 });
    const a = makeRun('bp-a', 1);
    const b = makeRun('bp-b', 1);
    for (const ev of eventsOf(a)) expect(await post(h.url, ev)).to.be.oneOf([200, 202]);
    while (h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 2) await new Promise((r) => setTimeout(r, 20));
    expect(h.sidecar.queueDepth).to.equal(1);
    expect(await h.sidecar.idle(50)).to.equal(false);
    expect(await post(h.url, eventFor(b.trs[0]!))).to.equal(503);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).to.match(/^vouch_sidecar_queue_depth 1$/m);
    expect(metrics).to.match(/^vouch_sidecar_events_rejected_total\{reason="busy"\} 1$/m);
    // the log comes back (here: the embedded one): the waiting attestation is made, and b goes through
    await h.restart({ maxQueue: 1 });
    await h.sidecar.idle();
    expect(await verifiedRecords(h, a)).to.have.length(1);
    for (const ev of eventsOf(b)) expect(await post(h.url, ev)).to.be.oneOf([200, 202]);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, b)).to.have.length(1);
  });

  it('store down after the log entry: retries (also across a restart) re-submit the same envelope; the log answers 409, one entry', async () => {
    h = await harness();
    await h.stop();
    // the store's directory path is taken by a file: every put fails until it is removed
    const blocked = join(h.dir, 'blocked-store');
    writeFileSync(blocked, 'not a directory');
    const store = new LocalStore(blocked);
    await h.restart({ store });
    const set = makeRun('store-down', 1);
    for (const ev of eventsOf(set)) await post(h.url, ev);
    while (h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 3) await new Promise((r) => setTimeout(r, 10));
    expect(h.log.size).to.equal(1);
    await h.restart({ store });
    while (h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 1) await new Promise((r) => setTimeout(r, 10));
    rmSync(blocked);
    expect(await h.sidecar.idle(10_000)).to.equal(true);
    expect(h.log.size).to.equal(1);
    const records = await verifiedRecords({ ...h, store }, set);
    expect(records).to.have.length(1);
    expect(records[0]!.logEntry!.logIndex).to.equal(0);
  });

  it('restarts attest nothing twice; health, readiness and metrics answer', async () => {
    h = await harness();
    const set = makeRun('restart', 2);
    for (const ev of eventsOf(set)) await post(h.url, ev);
    await h.sidecar.idle();
    await h.restart();
    await h.restart();
    for (const ev of eventsOf(set)) expect(await post(h.url, ev)).to.equal(200);
    await h.sidecar.idle();
    expect(await verifiedRecords(h, set)).to.have.length(1);
    expect(h.log.size).to.equal(1);
    expect((await fetch(`${h.url}/healthz`)).status).to.equal(200);
    expect((await fetch(`${h.url}/readyz`)).status).to.equal(200);
    const metrics = await (await fetch(`${h.url}/metrics`)).text();
    expect(metrics).to.include('# TYPE vouch_sidecar_events_accepted_total counter');
    expect(metrics).to.match(/^vouch_sidecar_events_duplicate_total \d+$/m);
  });

  it('a large journal is compacted at start: finished runs stay finished, unfinished ones go on', async () => {
    h = await harness();
    const done = Array.from({ length: 5 }, (_, i) => makeRun(`compact-${i}`, 2));
    for (const set of done) for (const ev of eventsOf(set)) await post(h.url, ev);
    const open = makeRun('compact-open', 2);
    const openEvents = eventsOf(open);
    for (const ev of openEvents.slice(0, -1)) await post(h.url, ev);
    await h.sidecar.idle();
    const before = journalSize(h);
    await h.restart({ compactBytes: 1 });
    expect(journalSize(h)).to.be.lessThan(before / 2);
    // finished runs: late copies change nothing; the open run finishes once
    for (const ev of eventsOf(done[0]!)) expect(await post(h.url, ev)).to.equal(200);
    expect(await post(h.url, openEvents[1]!)).to.equal(200);
    expect(await post(h.url, openEvents.at(-1)!)).to.equal(202);
    await h.sidecar.idle();
    await h.restart({ compactBytes: 1 });
    await h.sidecar.idle();
    for (const set of [...done, open]) expect(await verifiedRecords(h, set)).to.have.length(1);
    expect(h.log.size).to.equal(6);
  });

  it('the in-process sink takes the same events without a token', async () => {
    h = await harness();
    const set = makeRun('inproc', 2);
    // the runner's EventQueue takes it as one of its sinks (structurally an EventSink)
    const sink: EventSink = h.sidecar.sink;
    const queue = new EventQueue([sink]);
    for (const ev of eventsOf(set)) queue.emit(ev);
    expect(await queue.drain(10_000)).to.deep.equal({ delivered: 6, failed: 0, pending: 0 });
    await h.sidecar.idle();
    expect(await verifiedRecords(h, set)).to.have.length(1);
    let err: unknown;
    await h.sidecar.sink.send(eventFor(set.pr).cloneWith({ type: 'bogus' })).catch((e: unknown) => (err = e));
    expect(err).to.have.property('code', 'SIDECAR_EVENT_INVALID');
  });
});
