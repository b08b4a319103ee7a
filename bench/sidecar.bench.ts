// The sidecar's numbers, next to the raw rates that bound them on this machine:
//   events ingested durably per second over HTTP (goal >= 5,000/s), and in-process
//   PipelineRun-finished -> logged, verified and stored attestation latency p50/p99 (goal p99 <= 50 ms, embedded log)
//   raw write+fdatasync/s and ECDSA P-256 sign/s (each attestation: one signature, one log entry, a few fsyncs)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { AddressInfo } from 'node:net';
import { HTTP } from 'cloudevents';
import express from 'express';
import { pino } from 'pino';
import { Sidecar, serveSidecar } from '../src/sidecar/index.ts';
import { LocalStore } from '../src/store/local.ts';
import { EmbeddedLog } from '../src/tlog/log.ts';
import { eventFor, eventsOf, makeRun, newKey } from '../test/sidecar/helpers.ts';
import { rawEcdsaRates, rawFsyncRate, type Report } from './harness.ts';

const G = 'sidecar';
const silent = pino({ level: 'silent' });

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export default async function (report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-sidecar-'));
  try {
    report.row(G, 'raw write+fdatasync', await rawFsyncRate(dir), 'ops/s', 'the disk, no batching');
    report.row(G, 'raw ECDSA P-256 sign', (await rawEcdsaRates()).sign, 'ops/s');

    const key = newKey();
    const log = await EmbeddedLog.open(join(dir, 'tlog'), { logger: silent });
    const store = new LocalStore(join(dir, 'store'));
    const open = (name: string): Promise<Sidecar> =>
      Sidecar.open({ dataDir: join(dir, name), privateKey: key, store, tlog: { embedded: log }, logger: silent, maxWaitingRuns: 1_000_000, maxQueue: 1_000_000 });

    // ingest over HTTP: Tekton-shaped events (6 per PipelineRun of 2 TaskRuns), 64 requests in flight
    {
      const sidecar = await open('http');
      const server = await serveSidecar(sidecar, '127.0.0.1', 0, { token: 'bench' });
      const events = Array.from({ length: 3000 }, (_, i) => eventsOf(makeRun(`http-${i}`, 2))).flat();
      const requests = events.map((ev) => {
        const m = HTTP.binary(ev);
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(m.headers)) if (typeof v === 'string') headers[k] = v;
        return { headers, body: typeof m.body === 'string' ? m.body : JSON.stringify(m.body) };
      });
      const drive = async (url: string, reqs = requests): Promise<number> => {
        const worker = new Worker(new URL('./sidecar-client.ts', import.meta.url), { workerData: { url, token: 'bench', inFlight: 64, requests: reqs } });
        const done = await new Promise<{ ms: number }>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
        await worker.terminate();
        return done.ms;
      };
      // the ceiling of this machine: the same requests to an express handler that only answers 202
      {
        const bare = express();
        bare.post('/events', express.raw({ type: () => true }), (_req, res) => {
          res.status(202).json({ outcome: 'accepted' });
        });
        const srv = bare.listen(0, '127.0.0.1');
        await new Promise((r) => srv.once('listening', r));
        const ms = await drive(`http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
        srv.close();
        report.row(G, 'bare express POST answering 202 (HTTP ceiling here)', (events.length * 1000) / ms, 'requests/s', 'same client, no work: what HTTP alone costs on this machine');
      }
      const ms = await drive(server.url);
      report.row(G, 'events ingested durably (HTTP, 64 in flight)', (events.length * 1000) / ms, 'events/s', `goal >= 5,000/s; ${events.length} events (6 per PipelineRun), client in a worker thread, attestations made meanwhile`);
      await sidecar.idle();
      await server.close();
      await sidecar.close();
      // the same without the attestation work competing for the CPU and the disk: no PipelineRun finishes
      const quiet = await open('http-ingest-only');
      const quietServer = await serveSidecar(quiet, '127.0.0.1', 0, { token: 'bench' });
      const noFinish = requests.filter((r) => r.headers['ce-type'] !== 'dev.tekton.event.pipelinerun.successful.v1');
      const msQuiet = await drive(quietServer.url, noFinish);
      report.row(G, 'events ingested durably (HTTP, no attestation meanwhile)', (noFinish.length * 1000) / msQuiet, 'events/s', 'the same client; ingest alone');
      await quietServer.close();
      await quiet.close();
    }

    // ingest in-process (the runner's embedded path): no HTTP, same journal
    {
      const sidecar = await open('inproc');
      const events = Array.from({ length: 4000 }, (_, i) => eventsOf(makeRun(`inproc-${i}`, 2))).flat();
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: 256 }, async () => {
          while (next < events.length) await sidecar.ingest(events[next++]!);
        }),
      );
      const perSec = (events.length * 1000) / (performance.now() - t0);
      report.row(G, 'events ingested durably (in-process)', perSec, 'events/s', 'group commit: many events per fdatasync');
      await sidecar.idle();
      await sidecar.close();
    }

    // latency: the PipelineRun's finished event is accepted -> its attestation is logged, verified and stored
    {
      const sidecar = await open('latency');
      const lat: number[] = [];
      for (let i = 0; i < 300; i++) {
        const set = makeRun(`lat-${i}`, 2);
        const evs = eventsOf(set);
        for (const ev of evs.slice(0, -1)) await sidecar.ingest(ev);
        const t0 = performance.now();
        await sidecar.ingest(eventFor(set.pr));
        await sidecar.idle();
        lat.push(performance.now() - t0);
      }
      lat.sort((a, b) => a - b);
      report.row(G, 'PipelineRun finished -> logged attestation, p50', percentile(lat, 50), 'ms', 'embedded log; sign, log, verify, store, journal');
      report.row(G, 'PipelineRun finished -> logged attestation, p99', percentile(lat, 99), 'ms', 'goal p99 <= 50 ms');
      await sidecar.close();
    }
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
