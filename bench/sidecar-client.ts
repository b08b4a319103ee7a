// The load generator of sidecar.bench.ts, run in a worker thread so that the client's CPU is not the sidecar's:
// posts pre-serialised Tekton CloudEvents (binary mode, bearer token) over keep-alive connections.
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

interface Job {
  url: string;
  token: string;
  inFlight: number;
  requests: { headers: Record<string, string>; body: string }[];
}

const job = workerData as Job;
const agent = new Agent({ keepAlive: true, maxSockets: job.inFlight });
const target = new URL(`${job.url}/events`);

function send(r: Job['requests'][number]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...r.headers, authorization: `Bearer ${job.token}`, 'content-length': Buffer.byteLength(r.body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: job.inFlight }, async () => {
    while (next < job.requests.length) {
      const status = await send(job.requests[next++]!);
      if (status >= 300) throw new Error(`ingest answered ${status}`);
    }
  }),
);
parentPort!.postMessage({ ms: performance.now() - t0 });
agent.destroy();
