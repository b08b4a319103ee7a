// Outage test: the transparency log (`vouch log serve`, a child process) is stopped while events stream into the
// sidecar and restarted later on the same address. Work waits in the durable queue and is retried with backoff;
// in the end every PipelineRun has exactly one attestation in the log and one verified bundle in the store. The same
// for the registry behind the OCI store (a real Debian docker-registry), killed and brought back on its address.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { EmbeddedLog, readLogIdentity } from '../../src/tlog/log.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { FanOutStore, LocalStore, OciStore } from '../../src/store/index.ts';
import { Sidecar, serveSidecar } from '../../src/sidecar/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { TestRegistry } from '../store/registry-harness.ts';
import { stopProcess } from '../helpers/cli.ts';
import { startLog } from './procs.ts';
import { eventsOf, makeRun, newKey, post, quiet, verifiedRecords, type RunSet } from './helpers.ts';

describe('sidecar: log outage (vouch log serve stopped mid-stream and restarted)', function () {
  this.timeout(120_000);
  const procs: ChildProcess[] = [];
  let dir = '';
  after(async () => {
    for (const p of procs) await stopProcess(p, 'SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('work waits while the log is down and everything arrives once it is back, each PipelineRun logged once', async () => {
    dir = tempDir('vouch-sidecar-outage-');
    const logDir = join(dir, 'tlog');
    let log = await startLog(logDir, '127.0.0.1:0');
    procs.push(log.proc);
    const port = new URL(log.url).port;
    const identity = await readLogIdentity(logDir);
    const trustedRoot = trustedRootFor(identity, { url: log.url });
    const key = newKey();
    const store = new LocalStore(join(dir, 'store'));
    const sidecar = await Sidecar.open({ dataDir: join(dir, 'data'), privateKey: key, store, tlog: { url: log.url, trustedRoot }, logger: quiet, retryMs: { first: 20, max: 300 } });
    const server = await serveSidecar(sidecar, '127.0.0.1', 0, { token: 'outage-token' });
    try {
      const sets: RunSet[] = Array.from({ length: 30 }, (_, i) => makeRun(`outage-${i}`, 2));
      const send = async (batch: RunSet[]): Promise<void> => {
        for (const set of batch) for (const ev of eventsOf(set)) expect(await post(server.url, ev, 'outage-token')).to.be.oneOf([200, 202]);
      };
      await send(sets.slice(0, 10));
      await stopProcess(log.proc, 'SIGTERM');
      await send(sets.slice(10, 20));
      // attempts fail while the log is away; nothing is given up
      while (sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 10) await new Promise((r) => setTimeout(r, 20));
      expect(sidecar.queueDepth).to.be.greaterThan(0);
      expect(sidecar.metrics.get('vouch_sidecar_attestations_failed_total')).to.equal(0);
      log = await startLog(logDir, `127.0.0.1:${port}`);
      procs.push(log.proc);
      await send(sets.slice(20));
      await sidecar.idle();
      expect(sidecar.metrics.get('vouch_sidecar_attestations_signed_total')).to.equal(30);
      for (const set of sets) expect(await verifiedRecords({ store, trustedRoot, key }, set)).to.have.length(1);
    } finally {
      await server.close();
      await sidecar.close();
    }
    expect(await stopProcess(log.proc, 'SIGTERM')).to.equal(0);
    const check = await EmbeddedLog.open(logDir, { logger: quiet });
    try {
      expect(check.size).to.equal(30);
    } finally {
      await check.close();
    }
  });
});

describe('sidecar: registry outage (docker-registry killed mid-stream and restarted)', function () {
  this.timeout(120_000);
  const registry = new TestRegistry();
  let dir = '';
  after(async () => {
    await registry.stop();
    registry.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('attestations wait while the OCI store is down and all arrive once it is back, each PipelineRun stored once', async () => {
    dir = tempDir('vouch-sidecar-registry-outage-');
    await registry.start();
    const log = await EmbeddedLog.open(join(dir, 'tlog'), { logger: quiet });
    const trustedRoot = trustedRootFor(log);
    const key = newKey();
    const local = new LocalStore(join(dir, 'store'));
    // every .att goes to one repository of the loopback registry; few retries inside the store so that the
    // sidecar's own durable queue is what carries the work across the outage
    const oci = new OciStore({ repository: `${registry.host}/attestations`, retries: 0, timeoutMs: 2_000 });
    const sidecar = await Sidecar.open({ dataDir: join(dir, 'data'), privateKey: key, store: new FanOutStore([local, oci]), tlog: { embedded: log }, logger: quiet, retryMs: { first: 20, max: 300 } });
    const server = await serveSidecar(sidecar, '127.0.0.1', 0, { token: 'registry-outage-token' });
    const sets: RunSet[] = Array.from({ length: 24 }, (_, i) => makeRun(`registry-outage-${i}`, 2));
    try {
      const send = async (batch: RunSet[]): Promise<void> => {
        for (const set of batch) for (const ev of eventsOf(set)) expect(await post(server.url, ev, 'registry-outage-token')).to.be.oneOf([200, 202]);
      };
      await send(sets.slice(0, 8));
      await registry.kill();
      await send(sets.slice(8, 16));
      while (sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 5) await new Promise((r) => setTimeout(r, 20));
      expect(sidecar.queueDepth).to.be.greaterThan(0);
      expect(sidecar.metrics.get('vouch_sidecar_attestations_failed_total')).to.equal(0);
      await registry.start(true);
      await send(sets.slice(16));
      await sidecar.idle();
      expect(sidecar.metrics.get('vouch_sidecar_attestations_signed_total')).to.equal(24);
    } finally {
      await server.close();
      await sidecar.close();
    }
    // per run, once each: the provenance and (an OCI store being configured) the cosign signature of its image
    expect(log.size).to.equal(48);
    await log.close();
    for (const set of sets) {
      expect(await verifiedRecords({ store: local, trustedRoot, key }, set)).to.have.length(1);
      const inRegistry = await oci.list(set.image.sha256, set.image.url);
      expect(inRegistry, set.pr.metadata.name).to.have.length(1);
      expect(inRegistry[0]?.predicateType).to.equal('https://slsa.dev/provenance/v1');
    }
  });
});
