// Cluster mode: event payloads are only triggers. Before attesting, the sidecar re-reads the PipelineRun and its
// TaskRuns from the API server (here a loopback stand-in serving the objects, test/kube/apiserver.ts) and attests
// those; a payload that disagrees with the API server is suspected forgery and nothing is attested.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { KubeClient } from '../../src/kube/client.ts';
import { Sidecar } from '../../src/sidecar/index.ts';
import { LocalStore } from '../../src/store/local.ts';
import type { TaskRun } from '../../src/tekton/types.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { FakeApiServer } from '../kube/apiserver.ts';
import { tempDir } from '../helpers/tmp.ts';
import { eventFor, eventsOf, inState, makeRun, newKey, quiet, sha, verifiedRecords, type RunSet } from './helpers.ts';

describe('sidecar: cluster mode re-reads runs from the API server', function () {
  this.timeout(30_000);
  let dir = '';
  let api: FakeApiServer;
  let log: EmbeddedLog;
  let sidecar: Sidecar;
  let store: LocalStore;
  const key = newKey();
  beforeEach(async () => {
    dir = tempDir('vouch-sidecar-cluster-');
    api = new FakeApiServer();
    await api.start();
    const kube = KubeClient.load({ kubeconfig: api.writeKubeconfig(dir), timeoutMs: 2000 });
    log = await EmbeddedLog.open(join(dir, 'tlog'), { logger: quiet });
    store = new LocalStore(join(dir, 'store'));
    // reconcile only when a test asks (everyMs far beyond the test)
    sidecar = await Sidecar.open({ dataDir: join(dir, 'data'), privateKey: key, store, tlog: { embedded: log }, apiServer: kube, reconcile: { namespace: 'default', everyMs: 3_600_000 }, logger: quiet, retryMs: { first: 20, max: 100 } });
    expect(await sidecar.reconcile()).to.equal(0); // the one at start, before the test publishes anything
  });
  afterEach(async () => {
    await sidecar.close();
    await log.close();
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const publish = (set: RunSet): void => {
    for (const o of [set.pr, ...set.trs]) api.add(o as unknown as Parameters<FakeApiServer['add']>[0]);
  };

  it('payloads that agree with the API server: attested from the API server objects', async () => {
    const set = makeRun('agree', 2);
    publish(set);
    for (const ev of eventsOf(set)) await sidecar.ingest(ev);
    await sidecar.idle();
    expect(await verifiedRecords({ store, trustedRoot: trustedRootFor(log), key }, set)).to.have.length(1);
    expect(api.requests.filter((r) => r.method === 'GET' && !r.query.has('limit')).length).to.equal(3);
  });

  it('a tampered payload (another image digest) is suspected forgery: nothing of it is attested; the reconcile attests the real run', async () => {
    const set = makeRun('tampered', 2);
    publish(set);
    const forged = structuredClone(set.trs[1]!) as TaskRun & { status: { results: { name: string; value: string }[] } };
    forged.status.results[1]!.value = `sha256:${sha('evil')}`;
    for (const ev of [eventFor(set.trs[0]!), eventFor(forged), eventFor(set.pr)]) await sidecar.ingest(ev);
    await sidecar.idle();
    expect(await store.list(sha('evil'))).to.deep.equal([]);
    expect(await store.list(set.image.sha256)).to.deep.equal([]);
    expect(log.size).to.equal(0);
    expect(sidecar.metrics.get('vouch_sidecar_events_forged_total')).to.equal(1);
    // the forger cannot suppress the real run's attestation: the API server's objects are attested
    expect(await sidecar.reconcile()).to.equal(1);
    await sidecar.idle();
    expect(await verifiedRecords({ store, trustedRoot: trustedRootFor(log), key }, set)).to.have.length(1);
    expect(await store.list(sha('evil'))).to.deep.equal([]);
  });

  it('a PipelineRun the API server does not know, or knows with another uid, is not attested', async () => {
    const unknown = makeRun('unknown', 1);
    for (const ev of eventsOf(unknown)) await sidecar.ingest(ev);
    const recreated = makeRun('recreated', 1);
    publish(recreated);
    const replayed = makeRun('recreated', 1); // same name, other uid: a replay of an older run's events
    for (const ev of eventsOf(replayed)) await sidecar.ingest(ev);
    await sidecar.idle();
    expect(log.size).to.equal(0);
    expect(sidecar.metrics.get('vouch_sidecar_events_forged_total')).to.equal(2);
    expect(sidecar.queueDepth).to.equal(0);
  });

  it('the reconcile attests finished runs whose events never came, once; runs marked signed are left alone', async () => {
    const dropped = makeRun('dropped', 2);
    const signed = makeRun('signed-elsewhere', 1);
    signed.pr.metadata.annotations = { 'chains.tekton.dev/signed': 'true' };
    const viaEvents = makeRun('via-events', 1);
    const running = makeRun('still-running', 1);
    for (const set of [dropped, signed, viaEvents]) publish(set);
    api.add(inState(running.pr, 'running') as unknown as Parameters<FakeApiServer['add']>[0]);
    for (const ev of eventsOf(viaEvents)) await sidecar.ingest(ev);
    await sidecar.idle();
    expect(await sidecar.reconcile()).to.equal(1);
    await sidecar.idle();
    expect(await sidecar.reconcile()).to.equal(0);
    // late events of the reconciled run change nothing
    for (const ev of eventsOf(dropped)) await sidecar.ingest(ev);
    await sidecar.idle();
    const h = { store, trustedRoot: trustedRootFor(log), key };
    expect(await verifiedRecords(h, dropped)).to.have.length(1);
    expect(await verifiedRecords(h, viaEvents)).to.have.length(1);
    expect(await store.list(signed.image.sha256)).to.deep.equal([]);
    expect(log.size).to.equal(2);
  });

  it('the API server down: work waits and is retried, then attested', async () => {
    const set = makeRun('apidown', 1);
    publish(set);
    api.failing = true;
    for (const ev of eventsOf(set)) await sidecar.ingest(ev);
    while (sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 2) await new Promise((r) => setTimeout(r, 20));
    expect(log.size).to.equal(0);
    api.failing = false;
    await sidecar.idle();
    expect(await verifiedRecords({ store, trustedRoot: trustedRootFor(log), key }, set)).to.have.length(1);
  });
});
