// Crash test: `vouch sidecar` (a child process with the embedded log) takes a stream of Tekton events for many
// PipelineRuns and is killed with SIGKILL at random moments, then restarted on the same data. The client re-sends
// every event that was not acknowledged, as Tekton does. In the end every finished PipelineRun has exactly one
// attestation set in the log and the store: its provenance and its gate evidence (a TEST_EVIDENCE result naming a
// predicate file under sidecar.evidenceRoots), each logged once and verified.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { expect } from 'chai';
import type { CloudEvent } from 'cloudevents';
import { parsePrivateKey, writeKeyPair } from '../../src/attest/keys.ts';
import { SLSA_PROVENANCE_V1, TEST_RESULT_V01 } from '../../src/attest/predicates.ts';
import { LocalStore } from '../../src/store/local.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { tempDir } from '../helpers/tmp.ts';
import { eventsOf, makeRun, post, quiet, verifiedRecords, type RunSet } from './helpers.ts';
import { stopProcess } from '../helpers/cli.ts';
import { startSidecarProcess, type Child } from './procs.ts';

const RUNS = 150;
const KILLS = 5;
const CONCURRENCY = 8;

describe('sidecar: crash safety (SIGKILL while events stream in)', function () {
  this.timeout(180_000);
  let dir = '';
  let child: Child | undefined;
  after(async () => {
    if (child) await stopProcess(child.proc, 'SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`${KILLS} kills at random moments: every finished PipelineRun has exactly one verified attestation set in the log and the store`, async () => {
    dir = tempDir('vouch-sidecar-crash-');
    const { keyPath } = await writeKeyPair(join(dir, 'signing'));
    const config = join(dir, 'vouch.yaml');
    writeFileSync(
      config,
      [`signing: { key: ${keyPath} }`, `tlog: { data: ${join(dir, 'tlog')} }`, `sidecar:`, `  listen: 127.0.0.1:0`, `  data: ${join(dir, 'data')}`, `  store: ${join(dir, 'store')}`, `  evidenceRoots: ${join(dir, 'workspace')}`, ''].join('\n'),
    );
    const sets: RunSet[] = Array.from({ length: RUNS }, (_, i) => {
      const set = makeRun(`crash-${i}`, 2);
      const file = join(dir, 'workspace', String(i), 'test-result.json');
      const bytes = JSON.stringify({ result: 'PASSED', configuration: [], passedTests: [`run ${String(i)}`], warnedTests: [], failedTests: [] });
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, bytes);
      const evidence = { predicateType: TEST_RESULT_V01, uri: pathToFileURL(file).href, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
      (set.trs[0]!.status as { results: unknown[] }).results.push({ name: 'TEST_EVIDENCE', type: 'object', value: evidence });
      return set;
    });
    // runs interleaved, as a busy cluster sends them
    const queue: CloudEvent<unknown>[] = [];
    const perRun = sets.map(eventsOf);
    for (let k = 0; k < perRun[0]!.length; k++) for (const evs of perRun) queue.push(evs[k]!);
    child = await startSidecarProcess(config);
    let next = 0;
    let acked = 0;
    const killedAt: number[] = [];
    const sender = async (): Promise<void> => {
      while (next < queue.length) {
        const ev = queue[next++]!;
        for (;;) {
          const url = child!.url;
          const status = await post(url, ev).catch(() => 0);
          if (status >= 200 && status < 300) break;
          expect(status, 'only connection failures or 503 may happen').to.be.oneOf([0, 503]);
          await new Promise((r) => setTimeout(r, 10));
        }
        acked++;
      }
    };
    const senders = Array.from({ length: CONCURRENCY }, () => sender());
    // kill points spread over the stream (random within each slice), then a random few ms more: mid-request
    for (let k = 0; k < KILLS; k++) {
      const target = Math.floor(((k + Math.random()) / KILLS) * 0.9 * queue.length);
      while (acked < target) await new Promise((r) => setTimeout(r, 2));
      await new Promise((r) => setTimeout(r, Math.random() * 30));
      killedAt.push(acked);
      await stopProcess(child.proc, 'SIGKILL');
      child = await startSidecarProcess(config);
    }
    await Promise.all(senders);
    expect(acked).to.equal(queue.length);
    // the kills fell while events streamed in, not before or after
    expect(killedAt.filter((n) => n < queue.length)).to.have.length(KILLS);
    // wait for the last attestations, then a clean stop (SIGTERM: exit 0)
    const store = new LocalStore(join(dir, 'store'));
    const deadline = Date.now() + 60_000;
    for (const set of sets) {
      while ((await store.list(set.image.sha256)).length < 2) {
        if (Date.now() > deadline) throw new Error(`PipelineRun ${set.pr.metadata.name ?? ''} never attested`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    expect(await stopProcess(child.proc, 'SIGTERM')).to.equal(0);
    child = undefined;
    const log = await EmbeddedLog.open(join(dir, 'tlog'), { logger: quiet });
    try {
      expect(log.size, 'one log entry per statement (provenance, test result) of each PipelineRun, none twice').to.equal(2 * RUNS);
      const key = parsePrivateKey(readFileSync(keyPath), keyPath);
      const h = { store, trustedRoot: trustedRootFor(log), key };
      const indices = new Set<number>();
      for (const set of sets) {
        const records = await verifiedRecords(h, set);
        expect(records.map((r) => r.predicateType).sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
        for (const r of records) indices.add(r.logEntry!.logIndex);
      }
      expect(indices.size).to.equal(2 * RUNS);
    } finally {
      await log.close();
    }
  });
});
