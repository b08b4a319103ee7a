import { expect } from 'chai';
import { createHash, createPublicKey, sign, verify } from 'node:crypto';
import { OciStore } from '../../src/store/oci.ts';
import { simpleSigningPayload } from '../../src/store/oci/cosign.ts';
import { isImageReference, parseImageReference } from '../../src/common/oci/reference.ts';
import { parseChallenge, resolveImageDigest } from '../../src/common/oci/registry.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { hex, newSigner, type Signer } from './helpers.ts';
import { freePort, pushTestImage, RegistryFront, TestRegistry, type PushedImage } from './registry-harness.ts';
import { rejectsWith } from '../helpers/errors.ts';

// Against a real registry (Debian's docker-registry). The expected layout is cosign's, field by field, as written in
// its source: pkg/oci/static (annotation keys), pkg/types + cmd/cosign/cli/attest (layer media types, predicateType
// annotation), pkg/oci/empty (OCI manifest + OCI config media types), pkg/cosign/bundle/rekor.go (RekorBundle JSON).


async function raw(host: string, path: string, accept = 'application/vnd.oci.image.manifest.v1+json'): Promise<{ status: number; body: Buffer; type: string | null }> {
  const res = await fetch(`http://${host}${path}`, { headers: { accept } });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('store: OCI registry (real docker-registry)', function () {
  this.timeout(30_000);
  const registry = new TestRegistry();
  let signer: Signer;
  let image: PushedImage;
  let imageName: string;
  let provenance: AttestationRecord;
  let testResult: AttestationRecord;

  before(async () => {
    await registry.start();
    signer = await newSigner();
    image = await pushTestImage(registry.host, 'team/app', 'v1');
    imageName = `${registry.host}/team/app`;
    provenance = await signer.record({ name: imageName, sha256: image.digest });
    testResult = await signer.record({ name: imageName, sha256: image.digest, predicateType: 'https://in-toto.io/attestation/test-result/v0.1', predicate: { result: 'PASSED' } });
  });
  after(async () => {
    await registry.stop();
    registry.cleanup();
    await signer?.close();
  });

  it('stores attestations as cosign does: sha256-<hex>.att, OCI manifest, DSSE layers with cosign annotations', async () => {
    const store = new OciStore({ retries: 1, backoffMs: 10 });
    const loc1 = await store.put(provenance);
    const loc2 = await store.put(testResult);
    expect(loc1.kind).to.equal('oci');
    expect(loc2.ref).to.match(new RegExp(`^${registry.host}/team/app@sha256:[0-9a-f]{64}$`));

    const m = await raw(registry.host, `/v2/team/app/manifests/sha256-${image.digest}.att`);
    expect(m.status).to.equal(200);
    expect(m.type).to.equal('application/vnd.oci.image.manifest.v1+json');
    expect(`sha256:${sha(m.body)}`).to.equal(loc2.ref.split('@')[1]);
    const manifest = JSON.parse(m.body.toString()) as {
      schemaVersion: number;
      mediaType: string;
      config: { mediaType: string; size: number; digest: string };
      layers: { mediaType: string; size: number; digest: string; annotations: Record<string, string> }[];
    };
    expect(Object.keys(manifest)).to.deep.equal(['schemaVersion', 'mediaType', 'config', 'layers']);
    expect(manifest.schemaVersion).to.equal(2);
    expect(manifest.mediaType).to.equal('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.config.mediaType).to.equal('application/vnd.oci.image.config.v1+json');
    // appending keeps the earlier layer, in order
    expect(manifest.layers).to.have.length(2);
    for (const [i, record] of [provenance, testResult].entries()) {
      const layer = manifest.layers[i]!;
      expect(Object.keys(layer)).to.deep.equal(['mediaType', 'size', 'digest', 'annotations']);
      expect(layer.mediaType).to.equal('application/vnd.dsse.envelope.v1+json');
      const blob = await raw(registry.host, `/v2/team/app/blobs/${layer.digest}`);
      expect(blob.status).to.equal(200);
      expect(blob.body.length).to.equal(layer.size);
      expect(`sha256:${sha(blob.body)}`).to.equal(layer.digest);
      // the layer is the DSSE envelope, byte for byte as it was logged
      const bundleEnv = (record.bundle as unknown as { dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid: string }[] } }).dsseEnvelope;
      expect(blob.body.toString()).to.equal(JSON.stringify(bundleEnv));
      expect((JSON.parse(blob.body.toString()) as { payloadType: string }).payloadType).to.equal('application/vnd.in-toto+json');
      const a = layer.annotations;
      expect(a['dev.cosignproject.cosign/signature']).to.equal('');
      expect(a['predicateType']).to.equal(record.predicateType);
      // dev.sigstore.cosign/bundle: cosign's RekorBundle, from the bundle's log entry
      const rekor = JSON.parse(a['dev.sigstore.cosign/bundle']!) as { SignedEntryTimestamp: string; Payload: Record<string, unknown> };
      expect(Object.keys(rekor)).to.deep.equal(['SignedEntryTimestamp', 'Payload']);
      expect(Object.keys(rekor.Payload)).to.deep.equal(['body', 'integratedTime', 'logIndex', 'logID']);
      const entry = record.bundle.verificationMaterial.tlogEntries[0]!;
      expect(rekor.SignedEntryTimestamp).to.equal(entry.inclusionPromise!.signedEntryTimestamp);
      expect(rekor.Payload['body']).to.equal(entry.canonicalizedBody);
      expect(rekor.Payload['integratedTime']).to.equal(Number(entry.integratedTime ?? 0));
      expect(rekor.Payload['logIndex']).to.equal(Number(entry.logIndex ?? 0));
      expect(rekor.Payload['logID']).to.equal(signer.log.logId);
      // cosign's bundle check (pkg/cosign/verify.go bundleHash): for a dsse entry, sha256 of the layer bytes must be
      // the entry's envelopeHash, or it reports "bundle hash mismatch"
      const body = JSON.parse(Buffer.from(rekor.Payload['body'] as string, 'base64').toString()) as { kind: string; spec: { envelopeHash: { algorithm: string; value: string } } };
      expect(body.kind).to.equal('dsse');
      expect(body.spec.envelopeHash).to.deep.equal({ algorithm: 'sha256', value: sha(blob.body) });
      expect(a['dev.vouch/run-uid']).to.equal(record.runUid);
      // the Sigstore bundle less its envelope, which is the layer
      const { dsseEnvelope: _e, ...rest } = record.bundle as unknown as Record<string, unknown>;
      expect(JSON.parse(a['dev.vouch/sigstore-bundle']!)).to.deep.equal(rest);
      expect(a['dev.vouch/sigstore-bundle']).to.not.include(bundleEnv.payload);
    }
    // the config lists the layers as the image's diff_ids (what go-containerregistry writes)
    const config = await raw(registry.host, `/v2/team/app/blobs/${manifest.config.digest}`);
    expect(config.body.length).to.equal(manifest.config.size);
    const cfg = JSON.parse(config.body.toString()) as { rootfs: { type: string; diff_ids: string[] }; history: unknown[] };
    expect(cfg.rootfs).to.deep.equal({ type: 'layers', diff_ids: manifest.layers.map((l) => l.digest) });
    expect(cfg.history).to.have.length(2);
  });

  it('reads the records back by digest, and put is idempotent (no duplicate layer on retry)', async () => {
    const store = new OciStore({ retries: 1, backoffMs: 10 });
    const before = await raw(registry.host, `/v2/team/app/manifests/sha256-${image.digest}.att`);
    const again = await store.put(provenance);
    const resigned = await signer.record({ name: imageName, sha256: image.digest });
    await store.put(resigned);
    const after = await raw(registry.host, `/v2/team/app/manifests/sha256-${image.digest}.att`);
    expect(sha(after.body)).to.equal(sha(before.body));
    expect(again.ref.endsWith(sha(before.body))).to.equal(true);
    const listed = await store.list(image.digest, imageName);
    expect(listed).to.deep.equal([provenance, testResult]);
    // no attestations for another digest
    expect(await store.list(hex(5), imageName)).to.deep.equal([]);
  });

  it('stores an image signature as cosign does: sha256-<hex>.sig, simple signing layer, base64 signature annotation', async () => {
    const store = new OciStore({ retries: 1, backoffMs: 10 });
    const payload = simpleSigningPayload(imageName, image.digest);
    expect(payload.toString()).to.equal(
      `{"critical":{"identity":{"docker-reference":"${imageName}"},"image":{"docker-manifest-digest":"sha256:${image.digest}"},"type":"cosign container image signature"},"optional":null}`,
    );
    const signature = sign('sha256', payload, signer.key).toString('base64');
    const rekorBundle = { SignedEntryTimestamp: 'c2V0', Payload: { body: 'Ym9keQ==', integratedTime: 1700000000, logIndex: 7, logID: 'ab'.repeat(32) } };
    await store.putSignature({ image: { name: imageName, sha256: image.digest }, payload, signature, rekorBundle });
    await store.putSignature({ image: { name: imageName, sha256: image.digest }, payload, signature, rekorBundle });
    const m = await raw(registry.host, `/v2/team/app/manifests/sha256-${image.digest}.sig`);
    const manifest = JSON.parse(m.body.toString()) as { mediaType: string; config: { mediaType: string }; layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[] };
    expect(manifest.mediaType).to.equal('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.config.mediaType).to.equal('application/vnd.oci.image.config.v1+json');
    expect(manifest.layers).to.have.length(1);
    const layer = manifest.layers[0]!;
    expect(layer.mediaType).to.equal('application/vnd.dev.cosign.simplesigning.v1+json');
    expect(layer.annotations).to.deep.equal({ 'dev.cosignproject.cosign/signature': signature, 'dev.sigstore.cosign/bundle': JSON.stringify(rekorBundle) });
    const blob = await raw(registry.host, `/v2/team/app/blobs/${layer.digest}`);
    expect(blob.body.equals(payload)).to.equal(true);
    // what `cosign verify --key` checks: the signature over the payload blob, and the payload naming the image digest
    expect(verify('sha256', blob.body, createPublicKey(signer.key), Buffer.from(layer.annotations['dev.cosignproject.cosign/signature']!, 'base64'))).to.equal(true);
    const listed = await store.listSignatures(image.digest, imageName);
    expect(listed).to.have.length(1);
    expect(Buffer.from(listed[0]!.payload).equals(payload)).to.equal(true);
    expect(listed[0]!.rekorBundle).to.deep.equal(rekorBundle);
    // a payload for another digest is refused
    await rejectsWith(store.putSignature({ image: { name: imageName, sha256: hex(4) }, payload, signature }), 'STORE_INPUT_INVALID', /simple signing payload for sha256:0+4/);
  });

  it('appends to a .att that cosign wrote (Docker media types): keeps its layer and media types; list skips the foreign layer', async () => {
    const img = await pushTestImage(registry.host, 'team/cosigned', 'v1');
    const name = `${registry.host}/team/cosigned`;
    // what `COSIGN_DOCKER_MEDIA_TYPES=1 cosign attest` leaves: one DSSE layer with cosign's annotations only
    const foreign = await signer.record({ name, sha256: img.digest, predicateType: 'https://spdx.dev/Document' });
    const env = (foreign.bundle as unknown as { dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid: string }[] } }).dsseEnvelope;
    const layer = Buffer.from(JSON.stringify({ payloadType: env.payloadType, payload: env.payload, signatures: env.signatures }));
    const config = Buffer.from(JSON.stringify({ architecture: '', created: '0001-01-01T00:00:00Z', history: [{ created: '0001-01-01T00:00:00Z' }], os: '', rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layer)}`] }, config: {} }));
    for (const blob of [layer, config]) {
      const start = await fetch(`http://${registry.host}/v2/team/cosigned/blobs/uploads/`, { method: 'POST' });
      const url = new URL(start.headers.get('location')!, `http://${registry.host}`);
      url.searchParams.set('digest', `sha256:${sha(blob)}`);
      expect((await fetch(url, { method: 'PUT', body: blob })).status).to.equal(201);
    }
    const cosignManifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: `sha256:${sha(config)}` },
      layers: [{ mediaType: 'application/vnd.dsse.envelope.v1+json', size: layer.length, digest: `sha256:${sha(layer)}`, annotations: { 'dev.cosignproject.cosign/signature': '', predicateType: 'https://spdx.dev/Document' } }],
    };
    const put = await fetch(`http://${registry.host}/v2/team/cosigned/manifests/sha256-${img.digest}.att`, {
      method: 'PUT',
      body: JSON.stringify(cosignManifest),
      headers: { 'content-type': cosignManifest.mediaType },
    });
    expect(put.status).to.equal(201);
    const store = new OciStore({ retries: 0 });
    const record = await signer.record({ name, sha256: img.digest });
    await store.put(record);
    const m = await raw(registry.host, `/v2/team/cosigned/manifests/sha256-${img.digest}.att`, 'application/vnd.docker.distribution.manifest.v2+json');
    const manifest = JSON.parse(m.body.toString()) as typeof cosignManifest;
    expect(manifest.mediaType).to.equal('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.config.mediaType).to.equal('application/vnd.docker.container.image.v1+json');
    expect(manifest.layers).to.have.length(2);
    expect(manifest.layers[0]).to.deep.equal(cosignManifest.layers[0]);
    expect(manifest.layers[1]!.annotations['predicateType']).to.equal(record.predicateType);
    expect(await store.list(img.digest, name)).to.deep.equal([record]);
  });

  it('refuses to grow a manifest past the size limit, leaving the tag as it was', async () => {
    const img = await pushTestImage(registry.host, 'team/full', 'v1');
    const name = `${registry.host}/team/full`;
    const store = new OciStore({ retries: 0, maxManifestBytes: 6000 });
    await store.put(await signer.record({ name, sha256: img.digest, runUid: 'run-1' }));
    const before = await raw(registry.host, `/v2/team/full/manifests/sha256-${img.digest}.att`);
    expect(before.body.length).to.be.below(6000);
    await rejectsWith(store.put(await signer.record({ name, sha256: img.digest, runUid: 'run-2' })), 'STORE_REJECTED', /over the limit of 6000 \(1 layers already\); nothing was changed/);
    const after = await raw(registry.host, `/v2/team/full/manifests/sha256-${img.digest}.att`);
    expect(after.body.equals(before.body)).to.equal(true);
  });

  it('resolves a tag to its digest with HEAD (what admission needs), and a pinned digest as is', async () => {
    expect((await resolveImageDigest(`${registry.host}/team/app:v1`)).digest).to.equal(image.digest);
    expect((await resolveImageDigest(`${registry.host}/team/app@sha256:${hex(7)}`)).digest).to.equal(hex(7));
    await rejectsWith(resolveImageDigest(`${registry.host}/team/app:nope`), 'STORE_NOT_FOUND', /does not exist/);
    await rejectsWith(resolveImageDigest(`${registry.host}/Team/App:v1`), 'STORE_INPUT_INVALID');
  });

  it('refuses bad input before any request: non-hex digests, invalid repository names, missing repository', async () => {
    const store = new OciStore({ retries: 0 });
    await rejectsWith(store.list('sha256:' + image.digest, imageName), 'STORE_INPUT_INVALID', /64 lowercase hex/);
    await rejectsWith(store.list(image.digest), 'STORE_INPUT_INVALID', /needs the image repository/);
    await rejectsWith(store.put({ ...provenance, subject: { name: `${registry.host}/../etc`, sha256: image.digest } }), 'STORE_INPUT_INVALID', /repository name/);
    await rejectsWith(store.put({ ...provenance, subject: { name: imageName, sha256: hex(6) } }), 'STORE_INPUT_INVALID', /no subject with sha256/);
    expect(() => new OciStore({ repository: `${registry.host}/x:tag` })).to.throw(/must not have a tag/);
  });

  it('a fixed store repository holds the tags of every subject', async () => {
    const store = new OciStore({ repository: `${registry.host}/attestations`, retries: 1, backoffMs: 10 });
    const loc = await store.put(provenance);
    expect(loc.ref.startsWith(`${registry.host}/attestations@sha256:`)).to.equal(true);
    expect((await raw(registry.host, `/v2/attestations/manifests/sha256-${image.digest}.att`)).status).to.equal(200);
    expect(await store.list(image.digest)).to.deep.equal([provenance]);
  });

  it('an unreachable registry is STORE_UNAVAILABLE after the retries', async () => {
    const port = await freePort();
    const store = new OciStore({ retries: 2, backoffMs: 5 });
    await rejectsWith(store.put({ ...provenance, subject: { name: `127.0.0.1:${port}/team/app`, sha256: image.digest } }), 'STORE_UNAVAILABLE', /unreachable.*ECONNREFUSED.*tried 3 times/);
  });

  describe('through a front', () => {
    const front = new RegistryFront(registry);
    before(async () => front.start());
    after(async () => front.stop());
    afterEach(() => {
      front.mode = 'pass';
      front.onRequest = undefined;
    });

    it('registry stopped mid-way (at the manifest PUT): STORE_UNAVAILABLE, nothing half-written visible after restart, the retry completes', async () => {
      const img = await pushTestImage(registry.host, 'team/outage', 'v1');
      const name = `${front.host}/team/outage`;
      const record = await signer.record({ name, sha256: img.digest });
      let killed = false;
      front.onRequest = async (req) => {
        if (req.method === 'PUT' && req.url?.includes('/manifests/sha256-')) {
          if (!killed) await registry.kill();
          killed = true;
        }
        return false;
      };
      const store = new OciStore({ retries: 2, backoffMs: 5 });
      await rejectsWith(store.put(record), 'STORE_UNAVAILABLE', /registry 127\.0\.0\.1:\d+ (is unreachable|answered 502)/);
      expect(killed).to.equal(true);
      front.onRequest = undefined;
      await registry.start();
      // the blobs were uploaded, but no manifest references them: nothing is visible
      expect((await raw(registry.host, `/v2/team/outage/manifests/sha256-${img.digest}.att`)).status).to.equal(404);
      expect(await store.list(img.digest, name)).to.deep.equal([]);
      // the retry finds the blobs (HEAD) and commits
      await store.put(record);
      expect(await store.list(img.digest, name)).to.deep.equal([record]);
    });

    it('network errors are retried with backoff: two dropped connections, then the put completes', async () => {
      const img = await pushTestImage(registry.host, 'team/flaky', 'v1');
      const name = `${front.host}/team/flaky`;
      const record = await signer.record({ name, sha256: img.digest });
      let dropped = 0;
      front.onRequest = (req) => {
        if (req.method === 'PUT' && req.url?.includes('/manifests/') && dropped < 2) {
          dropped++;
          return true;
        }
        return false;
      };
      await new OciStore({ retries: 3, backoffMs: 5 }).put(record);
      expect(dropped).to.equal(2);
      expect(await new OciStore().list(img.digest, name)).to.deep.equal([record]);
    });

    it('a registry that does not answer times out as STORE_UNAVAILABLE', async () => {
      const img = await pushTestImage(registry.host, 'team/slow', 'v1');
      front.onRequest = () => new Promise<boolean>(() => undefined);
      await rejectsWith(new OciStore({ retries: 1, backoffMs: 5, timeoutMs: 150 }).list(img.digest, `${front.host}/team/slow`), 'STORE_UNAVAILABLE', /timed out; tried 2 times/);
    });

    it('bearer token flow: 401 challenge, token from the realm with service, scope and Basic credentials, then the request again', async () => {
      front.mode = 'bearer';
      front.tokenRequests.length = 0;
      const img = await pushTestImage(registry.host, 'team/private', 'v1');
      const name = `${front.host}/team/private`;
      const record = await signer.record({ name, sha256: img.digest });
      const store = new OciStore({ credentials: { username: front.user, password: front.password }, retries: 1, backoffMs: 5 });
      await store.put(record);
      expect(await store.list(img.digest, name)).to.deep.equal([record]);
      expect(front.tokenRequests.length).to.be.greaterThan(0);
      expect(front.tokenRequests.every((t) => t.authorized && t.service === 'vouch-test-registry')).to.equal(true);
      expect(front.tokenRequests.map((t) => t.scope)).to.include('repository:team/private:pull,push');

      const wrong = new OciStore({ credentials: { username: front.user, password: 'wrong-password-123' }, retries: 0 });
      const err = await rejectsWith(wrong.list(img.digest, name), 'STORE_AUTH_FAILED', /refused the configured credentials/);
      expect(err.message).to.not.include('wrong-password-123');
      const anonymous = new OciStore({ retries: 0 });
      await rejectsWith(anonymous.list(img.digest, name), 'STORE_AUTH_FAILED', /anonymous/);
    });

    it('basic auth: the challenge gets the configured credentials; none configured is a clear error', async () => {
      front.mode = 'basic';
      const img = await pushTestImage(registry.host, 'team/basic', 'v1');
      const name = `${front.host}/team/basic`;
      const record = await signer.record({ name, sha256: img.digest });
      const store = new OciStore({ credentials: { username: front.user, password: front.password }, retries: 0 });
      await store.put(record);
      expect(await store.list(img.digest, name)).to.have.length(1);
      await rejectsWith(new OciStore({ retries: 0 }).list(img.digest, name), 'STORE_AUTH_FAILED', /requires a username and password/);
      const err = await rejectsWith(new OciStore({ credentials: { username: front.user, password: 'nope-secret' }, retries: 0 }).list(img.digest, name), 'STORE_AUTH_FAILED', /refused GET/);
      expect(err.message).to.not.include('nope-secret');
    });
  });
});

describe('store: OCI references and challenges', () => {
  it('parses image references as Docker does', () => {
    expect(parseImageReference('alpine')).to.deep.equal({ registry: 'docker.io', repository: 'library/alpine' });
    expect(parseImageReference('ghcr.io/org/app:1.2@sha256:' + hex(1))).to.deep.equal({ registry: 'ghcr.io', repository: 'org/app', tag: '1.2', digest: hex(1) });
    expect(parseImageReference('localhost:5000/a/b')).to.deep.equal({ registry: 'localhost:5000', repository: 'a/b' });
    for (const bad of ['', 'UPPER/case', 'a/../b', 'a//b', 'x@sha256:abc', 'r.io/a:bad tag', 'r.io/a:' + 'x'.repeat(200)]) {
      expect(() => parseImageReference(bad), bad).to.throw(/image reference|not an image reference/);
    }
  });
  it('tells image references from other subject names', () => {
    expect(isImageReference('ghcr.io/org/app:1')).to.equal(true);
    expect(isImageReference('alpine')).to.equal(true);
    expect(isImageReference('https://github.com/org/repo')).to.equal(false);
    // syntactic only: "dist/app.tar.gz" is a valid Docker Hub repository name
    expect(isImageReference('dist/app.tar.gz')).to.equal(true);
    expect(isImageReference('App.JAR')).to.equal(false);
  });
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).to.deep.equal({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull' },
    });
    expect(parseChallenge('Basic realm="x"')).to.deep.equal({ scheme: 'basic', params: { realm: 'x' } });
  });
});
