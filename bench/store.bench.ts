import { performance } from 'node:perf_hooks';
import { rmSync } from 'node:fs';
import type { Report } from './harness.ts';
import { LocalStore } from '../src/store/local.ts';
import { OciStore } from '../src/store/oci.ts';
import type { AttestationRecord } from '../src/store/types.ts';
import { tempDir } from '../test/helpers/tmp.ts';
import { newSigner } from '../test/store/helpers.ts';
import { pushTestImage, TestRegistry } from '../test/store/registry-harness.ts';

// Attestation storage: durable local puts per second (each one: two fsync'd files and two directory fsyncs), and the
// latency of a put to a real OCI registry (docker-registry on loopback): read the .att manifest, upload envelope and
// config blobs, put the manifest, read it back.

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export default async function (report: Report): Promise<void> {
  const signer = await newSigner();
  const records: AttestationRecord[] = [];
  for (let i = 0; i < 200; i++) records.push(await signer.record({ name: 'registry.example/app', sha256: i.toString(16).padStart(64, '0'), runUid: `run-${i}` }));

  const dir = tempDir('vouch-bench-store-');
  try {
    const local = new LocalStore(dir);
    const start = performance.now();
    for (const r of records) await local.put(r);
    report.row('store', 'local put (durable, new record)', (records.length * 1000) / (performance.now() - start), 'puts/s');
    const again = performance.now();
    for (const r of records) await local.put(r);
    report.row('store', 'local put (already stored)', (records.length * 1000) / (performance.now() - again), 'puts/s');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const registry = new TestRegistry();
  try {
    await registry.start();
    const image = await pushTestImage(registry.host, 'bench/app', 'v1');
    const name = `${registry.host}/bench/app`;
    const store = new OciStore({ retries: 0 });
    const times: number[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await signer.record({ name, sha256: image.digest, runUid: `run-${i}` });
      const t = performance.now();
      await store.put(r);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    report.row('store', 'OCI put p50 (manifest growing to 50 layers)', percentile(times, 50), 'ms');
    report.row('store', 'OCI put p99', percentile(times, 99), 'ms');
    const t = performance.now();
    const listed = await store.list(image.digest, name);
    report.row('store', `OCI list (${listed.length} attestations)`, performance.now() - t, 'ms');
  } finally {
    await registry.stop();
    registry.cleanup();
    await signer.close();
  }
}
