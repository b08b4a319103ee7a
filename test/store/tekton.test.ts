import { expect } from 'chai';
import { KubeClient } from '../../src/kube/client.ts';
import { TektonStore, attestationAnnotationKey } from '../../src/store/tekton.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { FakeApiServer, recordedPipelineRun } from '../kube/apiserver.ts';
import { hex, newSigner, type Signer } from './helpers.ts';
import { rejectsWith } from '../helpers/errors.ts';


describe('store: Tekton annotations (loopback API server)', () => {
  const dir = tempDirPerSuite('vouch-store-tekton-');
  const api = new FakeApiServer();
  let signer: Signer;
  let store: TektonStore;
  const pr = recordedPipelineRun();
  const run = { kind: 'PipelineRun' as const, namespace: 'default', name: pr.metadata.name, uid: pr.metadata.uid };
  let provenance: AttestationRecord;
  let testResult: AttestationRecord;

  before(async () => {
    await api.start();
    api.add(pr);
    signer = await newSigner();
    const rec = await signer.record({ name: 'quay.io/lucarval/test-policies-chains', sha256: hex(0x29), runUid: run.uid });
    provenance = { ...rec, logEntry: { logIndex: 42, uuid: 'cd'.repeat(32), url: 'https://rekor.example.dev/' }, run };
    testResult = { ...(await signer.record({ name: 'quay.io/lucarval/test-policies-chains', sha256: hex(0x29), runUid: run.uid, predicateType: 'https://in-toto.io/attestation/test-result/v0.1' })), run };
    store = new TektonStore(KubeClient.load({ kubeconfig: api.writeKubeconfig(dir()) }), { namespace: 'default' });
  });
  after(async () => {
    await api.stop();
    await signer.close();
  });

  it('patches chains.tekton.dev/signed and transparency as Chains does, with one JSON merge patch', async () => {
    api.requests.length = 0;
    const loc = await store.put(provenance);
    expect(loc).to.deep.equal({ kind: 'tekton', ref: `PipelineRun/default/${pr.metadata.name}` });
    // re-read first (uid check), then one PATCH
    expect(api.requests.map((r) => r.method)).to.deep.equal(['GET', 'PATCH']);
    const patch = api.requests[1]!;
    expect(patch.path).to.equal(`/apis/tekton.dev/v1/namespaces/default/pipelineruns/${pr.metadata.name}`);
    expect(patch.headers['content-type']).to.equal('application/merge-patch+json');
    const body = JSON.parse(patch.body) as { metadata: { annotations: Record<string, string> } };
    expect(Object.keys(body)).to.deep.equal(['metadata']);
    const a = body.metadata.annotations;
    // the recorded run was already signed by Chains ("true"): only what changes is sent
    expect(a['chains.tekton.dev/signed']).to.equal(undefined);
    expect(a['chains.tekton.dev/transparency']).to.equal('https://rekor.example.dev/api/v1/log/entries?logIndex=42');
    const env = (provenance.bundle as unknown as { dsseEnvelope: { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] } }).dsseEnvelope;
    const short = `pipelinerun-${run.uid}`;
    expect(a[`chains.tekton.dev/payload-${short}`]).to.equal(env.payload);
    expect(Buffer.from(a[`chains.tekton.dev/signature-${short}`]!, 'base64').toString()).to.equal(JSON.stringify(env));
    expect(a[`chains.tekton.dev/cert-${short}`]).to.equal('');
    expect(JSON.parse(a[attestationAnnotationKey(provenance.predicateType)]!)).to.deep.equal({ subject: provenance.subject, predicateType: provenance.predicateType, logEntry: provenance.logEntry, bundle: provenance.bundle });
    // annotations of others are kept
    const after = api.get('pipelineruns', 'default', pr.metadata.name)!;
    expect(after.metadata.annotations!['chains.tekton.dev/signed']).to.equal('true');
  });

  it('sets signed=true on a run that has no Chains annotation yet', async () => {
    api.add({ ...pr, metadata: { ...pr.metadata, name: 'fresh', uid: 'fresh-uid', annotations: {} } });
    const { logEntry: _noLogEntry, ...rec } = await signer.record({ name: 'x', sha256: hex(0x30), runUid: 'fresh-uid' });
    api.requests.length = 0;
    await store.put({ ...rec, run: { ...run, name: 'fresh', uid: 'fresh-uid' } });
    const a = (JSON.parse(api.requests[1]!.body) as { metadata: { annotations: Record<string, string> } }).metadata.annotations;
    expect(a['chains.tekton.dev/signed']).to.equal('true');
    // no log entry given: no transparency annotation
    expect(a['chains.tekton.dev/transparency']).to.equal(undefined);
  });

  it('is idempotent: a record already there is not patched again', async () => {
    api.requests.length = 0;
    await store.put(provenance);
    expect(api.requests.map((r) => r.method)).to.deep.equal(['GET']);
  });

  it('a second predicate is added without replacing the provenance transparency entry; list() reads both back', async () => {
    await store.put({ ...testResult, logEntry: { logIndex: 43, uuid: 'ef'.repeat(32), url: 'https://rekor.example.dev' } });
    const obj = api.get('pipelineruns', 'default', pr.metadata.name)!;
    expect(obj.metadata.annotations!['chains.tekton.dev/transparency']).to.equal('https://rekor.example.dev/api/v1/log/entries?logIndex=42');
    const listed = await store.list(hex(0x29));
    expect(listed.map((r) => r.predicateType).sort()).to.deep.equal([provenance.predicateType, testResult.predicateType].sort());
    const p = listed.find((r) => r.predicateType === provenance.predicateType)!;
    expect(p.bundle).to.deep.equal(provenance.bundle);
    expect(p.run).to.deep.equal(run);
    expect(p.runUid).to.equal(run.uid);
    expect(await store.list(hex(0x31))).to.deep.equal([]);
  });

  it('never annotates a run re-created under the same name (other uid)', async () => {
    api.requests.length = 0;
    await rejectsWith(store.put({ ...provenance, runUid: 'old-uid', run: { ...run, uid: 'old-uid' } }), 'STORE_REJECTED', /deleted and re-created/);
    expect(api.requests.map((r) => r.method)).to.deep.equal(['GET']);
  });

  it('refuses records without a run, and annotations over the 256 KiB limit, before patching', async () => {
    await rejectsWith(store.put({ ...provenance, run: undefined }), 'STORE_INPUT_INVALID', /needs record\.run/);
    await rejectsWith(store.put({ ...provenance, run: { ...run, uid: 'x' } }), 'STORE_INPUT_INVALID', /differs from record\.runUid/);
    const big = await signer.record({ name: 'x', sha256: hex(0x29), runUid: run.uid, predicateType: 'https://cyclonedx.org/bom', predicate: { blob: 'x'.repeat(300_000) } });
    api.requests.length = 0;
    await rejectsWith(store.put({ ...big, run }), 'STORE_REJECTED', /over the API server's 262144.*OCI or local store/);
    expect(api.requests.map((r) => r.method)).to.deep.equal(['GET']);
  });

  it('API server errors come through as KUBE_* codes (not found, forbidden, unavailable)', async () => {
    await rejectsWith(store.put({ ...provenance, run: { ...run, name: 'gone' } }), 'KUBE_NOT_FOUND');
    await rejectsWith(store.put({ ...provenance, run: { ...run, namespace: 'locked' } }), 'KUBE_FORBIDDEN');
    api.failing = true;
    try {
      await rejectsWith(store.put(provenance), 'KUBE_UNAVAILABLE');
    } finally {
      api.failing = false;
    }
  });
});
