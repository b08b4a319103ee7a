// Outage test: the transparency log (`vouch log serve`, a child process) is stopped while events stream into the
// sidecar and restarted later on the same address. Work waits in the durable queue and is retried with backoff;
// in the end every PipelineRun has exactly one attestation in the log and one verified bundle in the store.
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { EmbeddedLog, readLogIdentity } from '../../src/tlog/log.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { LocalStore } from '../../src/store/local.ts';
import { Sidecar, serveSidecar } from '../../src/sidecar/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startLog, stopProcess } from './procs.ts';
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
