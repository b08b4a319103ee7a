// With an OCI store configured, the sidecar also signs every image subject as cosign does (simple signing payload in
// a `sha256-<digest>.sig` layer, its Rekor entry a hashedrekord), against a real registry (docker-registry). The
// signature is journaled before it is logged: retries and a restart in between give one log entry and one layer.
import { expect } from 'chai';
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { join } from 'node:path';
import { json } from '@sigstore/core';
import { publicKeyOf } from '../../src/attest/keys.ts';
import { FanOutStore, LocalStore, OciStore, simpleSigningPayload } from '../../src/store/index.ts';
import { tempDir } from '../helpers/tmp.ts';
import { pushTestImage, RegistryFront, TestRegistry } from '../store/registry-harness.ts';
import { eventsOf, harness, makeRun, post, type Harness, type RunSet } from './helpers.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Layer {
  mediaType: string;
  digest: string;
  annotations?: Record<string, string>;
}

async function sigLayers(host: string, repository: string, sha256: string): Promise<Layer[]> {
  const res = await fetch(`http://${host}/v2/${repository}/manifests/sha256-${sha256}.sig`, { headers: { accept: OCI_MANIFEST } });
  if (res.status === 404) return [];
  expect(res.status).to.equal(200);
  return ((await res.json()) as { layers: Layer[] }).layers;
}

/** The run's last TaskRun reports the pushed image (through the front) as IMAGE_URL/IMAGE_DIGEST. */
function runFor(name: string, imageUrl: string, sha256: string): RunSet {
  const set = makeRun(name);
  const last = set.trs[set.trs.length - 1]!;
  (last.status as unknown as { results: { name: string; type: string; value: string }[] }).results = [
    { name: 'IMAGE_URL', type: 'string', value: imageUrl },
    { name: 'IMAGE_DIGEST', type: 'string', value: `sha256:${sha256}` },
  ];
  set.image = { url: imageUrl, sha256 };
  return set;
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond(), 'condition never reached').to.equal(true);
}

describe('sidecar: cosign image signatures in the OCI store', function () {
  this.timeout(60_000);
  const registry = new TestRegistry();
  const front = new RegistryFront(registry);
  let h: Harness | undefined;

  before(async () => {
    await registry.start();
    await front.start();
  });
  afterEach(async () => {
    front.onRequest = undefined;
    await h?.close();
    h = undefined;
  });
  after(async () => {
    await front.stop();
    await registry.stop();
    registry.cleanup();
  });

  it('a PipelineRun with IMAGE_URL/IMAGE_DIGEST ends with a .sig cosign can verify, once, across failures and a restart', async () => {
    const image = await pushTestImage(front.host, 'team/app', 'v1');
    const localDir = tempDir('vouch-sidecar-cosign-');
    const store = new FanOutStore([new LocalStore(join(localDir, 'store')), new OciStore({ retries: 0 })]);
    // the first two pushes of the .sig manifest fail (the connection drops): the attestation is stored, the signature not
    let dropped = 0;
    let dropSig = true;
    front.onRequest = (req) => {
      if (dropSig && req.method === 'PUT' && /\/manifests\/sha256-[0-9a-f]{64}\.sig$/.test(req.url ?? '')) {
        dropped++;
        return true;
      }
      return false;
    };
    h = await harness({ store });
    const repository = `${front.host}/team/app`;
    const set = runFor('cosign', repository, image.digest);
    for (const ev of eventsOf(set)) expect(await post(h.url, ev)).to.equal(202);
    await waitFor(() => dropped >= 1);
    // a restart while the signature is journaled but not stored: the same signature is logged (no second entry)
    await h.restart();
    await waitFor(() => dropped >= 2);
    dropSig = false;
    expect(await h.sidecar.idle(30_000)).to.equal(true);

    const layers = await sigLayers(front.host, 'team/app', image.digest);
    expect(layers).to.have.length(1);
    const layer = layers[0]!;
    expect(layer.mediaType).to.equal('application/vnd.dev.cosign.simplesigning.v1+json');
    const blob = Buffer.from(await (await fetch(`http://${front.host}/v2/team/app/blobs/${layer.digest}`)).arrayBuffer());
    expect(blob.equals(simpleSigningPayload(repository, image.digest))).to.equal(true);
    const signature = Buffer.from(layer.annotations!['dev.cosignproject.cosign/signature']!, 'base64');
    expect(cryptoVerify('sha256', blob, publicKeyOf(h.key), signature)).to.equal(true);

    // cosign's Rekor bundle: the SET is the log's signature over the canonical JSON of the payload
    const rekor = JSON.parse(layer.annotations!['dev.sigstore.cosign/bundle']!) as { SignedEntryTimestamp: string; Payload: { body: string; integratedTime: number; logIndex: number; logID: string } };
    expect(cryptoVerify('sha256', Buffer.from(json.canonicalize(rekor.Payload)), h.log.publicKey, Buffer.from(rekor.SignedEntryTimestamp, 'base64'))).to.equal(true);
    expect(rekor.Payload.logID).to.equal(h.log.logId);
    const body = JSON.parse(Buffer.from(rekor.Payload.body, 'base64').toString('utf8')) as { kind: string; spec: { data: { hash: { value: string } }; signature: { content: string } } };
    expect(body.kind).to.equal('hashedrekord');
    expect(body.spec.data.hash.value).to.equal(createHash('sha256').update(blob).digest('hex'));
    expect(Buffer.from(body.spec.signature.content, 'base64').equals(signature)).to.equal(true);
    // the attestation (dsse) and exactly one image signature (hashedrekord), though the signature was logged 3 times
    expect(h.log.size).to.equal(2);
    const tampered = Buffer.from(blob.toString('utf8').replace('team/app', 'team/evil'));
    expect(cryptoVerify('sha256', tampered, publicKeyOf(h.key), signature)).to.equal(false);
  });

  it('without an OCI store among the stores: no image signature, no hashedrekord entry', async () => {
    const image = await pushTestImage(front.host, 'team/plain', 'v1');
    h = await harness();
    const set = runFor('plain', `${front.host}/team/plain`, image.digest);
    for (const ev of eventsOf(set)) expect(await post(h.url, ev)).to.equal(202);
    expect(await h.sidecar.idle(30_000)).to.equal(true);
    expect(await sigLayers(front.host, 'team/plain', image.digest)).to.deep.equal([]);
    expect(h.log.size).to.equal(1);
  });
});
