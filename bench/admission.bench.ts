// Admission: AdmissionReviews of a 10-container Deployment (10 distinct images, each with the full evidence of the
// vouch pipeline: provenance, test result, SBOM, vulnerability scan, risk assessment, two approvals), answered by the
// webhook, warm (every digest in the verdict cache) and cold (cache cleared before each review: every bundle
// verified again). Goals (issue 9): p99 <= 5 ms warm, <= 50 ms cold, >= 2,000 reviews/s; next to the machine's ECDSA
// P-256 verify rate, since a cold review is ~10 x 7 bundle verifications of ~4 ECDSA verifies each.
import { rmSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { AdmissionEngine } from '../src/admission/engine.ts';
import { AdmissionWebhook, serveWebhook } from '../src/admission/webhook.ts';
import { parseAdmissionPolicies } from '../src/policy/admission.ts';
import { digestOf, makeWorld, policyYaml, putEvidence, REPO } from '../test/admission/helpers.ts';
import { selfSignedCert } from '../test/admission/tls.ts';
import { tempDir } from '../test/helpers/tmp.ts';
import { rawEcdsaRates, type Report } from './harness.ts';

const CLIENT = `
const { workerData, parentPort } = require('node:worker_threads');
const https = require('node:https');
const agent = new https.Agent({ keepAlive: true, maxSockets: workerData.inFlight, ca: workerData.ca });
const post = () => new Promise((resolve, reject) => {
  const req = https.request(workerData.url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(workerData.body) } }, (res) => { res.resume(); res.on('end', resolve); });
  req.on('error', reject);
  req.end(workerData.body);
});
(async () => {
  for (let i = 0; i < 50; i++) await post();
  let sent = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: workerData.inFlight }, async () => { while (sent < workerData.total) { sent++; await post(); } }));
  parentPort.postMessage(performance.now() - start);
  agent.destroy();
})();
`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export default async function bench(report: Report): Promise<void> {
  const G = 'admission';
  report.row(G, 'raw ECDSA P-256 verify', (await rawEcdsaRates()).verify, 'ops/s', 'node:crypto, same run');
  const dir = tempDir('vouch-bench-admission-');
  const w = await makeWorld(dir);
  try {
    const images: string[] = [];
    for (let i = 0; i < 10; i++) {
      await putEvidence(w, { digest: digestOf(`bench-${String(i)}`) });
      images.push(`${REPO}@sha256:${digestOf(`bench-${String(i)}`)}`);
    }
    const engine = new AdmissionEngine({ policies: parseAdmissionPolicies(policyYaml(w), 'policy.yaml'), stores: [w.store], approvalDirs: [w.approvalsDir], trustedRoot: w.trustedRoot });
    const webhook = new AdmissionWebhook({ engine });
    const review = (i: number): Buffer =>
      Buffer.from(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: {
            uid: `uid-${String(i)}`,
            kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
            namespace: 'prod',
            operation: 'CREATE',
            userInfo: { username: 'bench' },
            object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'app' }, spec: { template: { spec: { containers: images.map((image, j) => ({ name: `c${String(j)}`, image })) } } } },
          },
        }),
      );
    const body = review(0);
    const check = async (): Promise<void> => {
      const a = (await webhook.handle(body)).body as { response: { allowed: boolean; status?: { message: string } } };
      if (!a.response.allowed) throw new Error(`bench review denied: ${a.response.status?.message ?? ''}`);
    };
    await check();

    const measure = async (n: number, cold: boolean): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < n; i++) {
        if (cold) engine.cache.clear();
        const t = performance.now();
        await webhook.handle(body);
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b);
    };
    const cold = await measure(40, true);
    report.row(G, '10-container Deployment, cold: p50', percentile(cold, 50), 'ms', '70 bundles verified per review');
    report.row(G, '10-container Deployment, cold: p99', percentile(cold, 99), 'ms', 'goal <= 50 ms');
    const warm = await measure(5000, false);
    report.row(G, '10-container Deployment, warm: p50', percentile(warm, 50), 'ms', 'in-process handle(), verdicts cached by digest');
    report.row(G, '10-container Deployment, warm: p99', percentile(warm, 99), 'ms', 'goal <= 5 ms');
    report.row(G, '10-container Deployment, warm: reviews/s (in-process)', (warm.length * 1000) / warm.reduce((a, b) => a + b, 0), 'reviews/s', 'goal >= 2,000');

    // over real HTTPS with keep-alive, 8 requests in flight, from a worker thread (so the client's own TLS work
    // does not share the server's event loop)
    const tls = selfSignedCert();
    const server = await serveWebhook(webhook, tls, '127.0.0.1', 0);
    try {
      const total = 3000;
      const worker = new Worker(CLIENT, { eval: true, workerData: { url: `${server.url}/admission`, ca: tls.ca, body: body.toString(), total, inFlight: 8 } });
      const ms = await new Promise<number>((resolve, reject) => {
        worker.once('message', (m: number) => {
          resolve(m);
        });
        worker.once('error', reject);
      });
      await worker.terminate();
      report.row(G, '10-container Deployment, warm: reviews/s over HTTPS', (total * 1000) / ms, 'reviews/s', 'keep-alive, 8 in flight, client in a worker thread; goal >= 2,000');
    } finally {
      await server.close();
    }
  } finally {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
