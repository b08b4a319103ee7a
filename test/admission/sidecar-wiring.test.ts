// `vouch sidecar` serves the admission webhook too when config admission.listen is set.
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { writeKeyPair } from '../../src/attest/keys.ts';
import { tempDir } from '../helpers/tmp.ts';
import { stopProcess } from '../helpers/cli.ts';
import { startSidecarProcess } from '../sidecar/procs.ts';
import { freePort } from '../store/registry-harness.ts';
import { selfSignedCert } from './tls.ts';

describe('admission: served by vouch sidecar', function () {
  this.timeout(60_000);
  let dir = '';
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers POST /admission over HTTPS next to the CloudEvents listener, and denies an uncovered image', async () => {
    dir = tempDir('vouch-admission-sidecar-');
    const { keyPath } = await writeKeyPair(join(dir, 'signing'));
    const tls = selfSignedCert();
    writeFileSync(join(dir, 'tls.crt'), tls.cert);
    writeFileSync(join(dir, 'tls.key'), tls.key);
    const pub = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    writeFileSync(join(dir, 'policy.yaml'), `apiVersion: vouch.dev/v1alpha1\nkind: AdmissionPolicy\nmetadata: {name: p}\nspec:\n  images: ['registry.example/**']\n  keys: [{name: k, key: ${JSON.stringify(pub)}}]\n`);
    const port = await freePort();
    const config = join(dir, 'vouch.yaml');
    writeFileSync(
      config,
      [`signing: { key: ${keyPath} }`, `tlog: { data: ${join(dir, 'tlog')} }`, 'sidecar:', '  listen: 127.0.0.1:0', `  data: ${join(dir, 'data')}`, `  store: ${join(dir, 'store')}`, 'admission:', `  listen: 127.0.0.1:${String(port)}`, '  tlsCert: tls.crt', '  tlsKey: tls.key', '  policy: policy.yaml', ''].join('\n'),
    );
    const child = await startSidecarProcess(config);
    try {
      const review = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'prod', operation: 'CREATE', object: { kind: 'Pod', spec: { containers: [{ name: 'a', image: 'other.example/x@sha256:' + 'a'.repeat(64) }] } } } };
      const data = Buffer.from(JSON.stringify(review));
      let answer: { response: { uid: string; allowed: boolean; status: { message: string } } } | undefined;
      const deadline = Date.now() + 20_000;
      while (!answer) {
        try {
          answer = await new Promise((resolve, reject) => {
            const req = request(`https://127.0.0.1:${String(port)}/admission`, { method: 'POST', ca: tls.ca, headers: { 'content-type': 'application/json' } }, (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => {
                resolve(JSON.parse(Buffer.concat(chunks).toString()) as never);
              });
            });
            req.on('error', reject);
            req.end(data);
          });
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(answer.response.uid).to.equal('u-1');
      expect(answer.response.allowed).to.equal(false);
      expect(answer.response.status.message).to.match(/policy\.none/);
    } finally {
      expect(await stopProcess(child.proc, 'SIGTERM')).to.equal(0);
    }
  });
});
