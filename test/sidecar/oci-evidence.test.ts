// Gate evidence over OCI (docs/evidence.md), against a real registry (Debian docker-registry on loopback, behind the
// test front that records requests and can demand credentials or lie): the stage framework pushes each predicate as
// an OCI artifact and its result names the manifest; the sidecar, with NO evidence roots, fetches allow-listed claims
// by digest and signs them with the run's subjects; every malformed, mis-shaped, oversized or foreign claim is refused
// (the foreign one without a single request); a registry that is down makes the run wait and retry, exactly once.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_CONFIG,
  EMPTY_DIGEST,
  EMPTY_MEDIA_TYPE,
  EVIDENCE_ARTIFACT_TYPE,
  EVIDENCE_LAYER_MEDIA_TYPE,
  EvidenceAnnotations,
  evidenceArtifact,
  OCI_MANIFEST_MEDIA_TYPE,
  parseEvidenceUri,
} from '../../src/attest/evidence-artifact.ts';
import { publicKeyOf } from '../../src/attest/keys.ts';
import { SLSA_PROVENANCE_V1, TEST_RESULT_V01 } from '../../src/attest/predicates.ts';
import { verifyBundle } from '../../src/attest/verify.ts';
import { defaultConfig } from '../../src/common/config.ts';
import { isVouchError } from '../../src/common/errors.ts';
import { configureLogging, logger } from '../../src/common/log.ts';
import { dockerConfigCredentials, dockerConfigEntry } from '../../src/common/oci/dockerconfig.ts';
import { RegistryClient } from '../../src/common/oci/registry.ts';
import { ociEvidenceOptions } from '../../src/sidecar/index.ts';
import { Sidecar } from '../../src/sidecar/sidecar.ts';
import { evidence, runStage, stageParams, type Stage, type StageOutcome } from '../../src/stages/framework.ts';
import { STAGES } from '../../src/stages/index.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { captureLogs } from '../helpers/log.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { RegistryFront, TestRegistry } from '../store/registry-harness.ts';
import { eventsOf, harness, makeRun, post, type Harness, type RunSet } from './helpers.ts';

interface Claim {
  predicateType: string;
  uri: string;
  digest: string;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const REPO = 'evidence';

function addResults(set: RunSet, task: number, results: Record<string, unknown>): void {
  const status = set.trs[task]!.status as { results?: { name: string; type: string; value: unknown }[] };
  status.results = [...(status.results ?? []), ...Object.entries(results).map(([name, value]) => ({ name, type: 'object', value }))];
}

function statementOf(r: AttestationRecord): { subject: unknown; predicateType: string; predicate: Record<string, unknown> } {
  return JSON.parse(Buffer.from((r.bundle as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString('utf8')) as ReturnType<typeof statementOf>;
}

/** A stage that declares one TEST_EVIDENCE predicate, as the test stage does. */
function probe(predicate: object): Stage {
  return {
    name: 'probe',
    description: 'declares test evidence',
    params: [],
    results: [{ name: 'TEST_EVIDENCE', description: 'evidence' }],
    run: (ctx): Promise<StageOutcome> => {
      evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, predicate);
      return Promise.resolve({ results: {}, gate: { passed: true, reasons: [] }, files: {}, report: {} });
    },
  };
}

describe('gate evidence over OCI (real docker-registry)', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-oci-evidence-');
  const registry = new TestRegistry();
  let front: RegistryFront;
  let client: RegistryClient;
  let n = 0;

  let logLines: string[] = [];
  before(async () => {
    logLines = captureLogs('info');
    await registry.start();
    front = new RegistryFront(registry);
    await front.start();
    client = new RegistryClient({ registry: front.host, retries: 0 });
  });
  after(async () => {
    configureLogging();
    await front.stop();
    await registry.stop();
    registry.cleanup();
  });
  beforeEach(() => {
    front.mode = 'pass';
    front.respond = undefined;
    front.onRequest = undefined;
  });

  /** Runs the probe stage with the OCI transport; returns the result value and the paths. */
  async function push(predicate: object, params: Record<string, string> = {}): Promise<{ claim: Claim; source: string; resultPath: string }> {
    const d = join(tmp(), String(++n));
    mkdirSync(join(d, 'source'), { recursive: true });
    const resultPath = join(d, 'TEST_EVIDENCE');
    await runStage(probe(predicate), { params: { 'evidence-repository': `${front.host}/${REPO}`, ...params }, source: join(d, 'source'), resultPaths: { TEST_EVIDENCE: resultPath } });
    return { claim: JSON.parse(readFileSync(resultPath, 'utf8')) as Claim, source: join(d, 'source'), resultPath };
  }

  /** Pushes a hand-made manifest (blobs first) and returns a claim naming it. */
  async function pushManifest(manifest: object, blobs: Buffer[], claimedDigest: string): Promise<Claim> {
    for (const b of [EMPTY_CONFIG, ...blobs]) await client.putBlob(REPO, b);
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = await client.putManifest(REPO, `sha256:${sha256(body)}`, body, OCI_MANIFEST_MEDIA_TYPE);
    return { predicateType: TEST_RESULT_V01, uri: `oci://${front.host}/${REPO}@sha256:${digest}`, digest: `sha256:${claimedDigest}` };
  }

  const manifestOf = (layers: object[]): object => ({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_MEDIA_TYPE,
    artifactType: EVIDENCE_ARTIFACT_TYPE,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: 2 },
    layers,
    annotations: { [EvidenceAnnotations.predicateType]: TEST_RESULT_V01 },
  });
  const layerOf = (b: Buffer, mediaType = EVIDENCE_LAYER_MEDIA_TYPE): object => ({ mediaType, digest: `sha256:${sha256(b)}`, size: b.length });

  describe('stage side (framework)', () => {
    it('pushes the predicate as an OCI 1.1 artifact and the result names its manifest; the digest stays the predicate\'s, the file is still written', async () => {
      const predicate = { result: 'PASSED', configuration: [], passedTests: ['a', 'b'], warnedTests: [], failedTests: [] };
      const { claim, source } = await push(predicate);
      const file = join(source, '.vouch/reports/probe/test.predicate.json');
      const bytes = readFileSync(file);
      expect(JSON.parse(bytes.toString('utf8'))).to.deep.equal(predicate);
      expect(claim.predicateType).to.equal(TEST_RESULT_V01);
      expect(claim.digest).to.equal(`sha256:${sha256(bytes)}`);
      const loc = parseEvidenceUri(claim.uri);
      expect(loc).to.deep.include({ registry: front.host, repository: REPO });
      // what the registry holds: exactly the shape, by the digest the uri pins, the layer the exact predicate bytes
      const manifest = await client.getManifest(REPO, `sha256:${loc.digest}`);
      expect(manifest?.mediaType).to.equal(OCI_MANIFEST_MEDIA_TYPE);
      const m = JSON.parse(manifest!.body.toString('utf8')) as { artifactType: string; config: unknown; layers: { mediaType: string; digest: string; size: number }[]; annotations: Record<string, string> };
      expect(m.artifactType).to.equal(EVIDENCE_ARTIFACT_TYPE);
      expect(m.config).to.deep.equal({ mediaType: EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: 2 });
      expect(m.layers).to.have.length(1);
      expect(m.layers[0]).to.deep.include({ mediaType: EVIDENCE_LAYER_MEDIA_TYPE, digest: claim.digest, size: bytes.length });
      expect(m.annotations).to.deep.equal({ [EvidenceAnnotations.predicateType]: TEST_RESULT_V01, [EvidenceAnnotations.stage]: 'probe', [EvidenceAnnotations.result]: 'TEST_EVIDENCE' });
      expect((await client.getBlob(REPO, claim.digest.slice('sha256:'.length))).equals(bytes)).to.equal(true);
      expect(await client.getBlob(REPO, EMPTY_DIGEST.slice('sha256:'.length))).to.deep.equal(Buffer.from('{}'));
      // tagged deterministically, so a registry that collects untagged manifests keeps it
      expect(await client.resolveTag(REPO, `sha256-${loc.digest}.evidence`)).to.equal(loc.digest);
      // same predicate, same stage: same manifest
      expect((await push(predicate)).claim.uri).to.equal(claim.uri);
    });

    it('every stage that declares evidence (and only those) takes evidence-repository and docker-config', async () => {
      const withEvidence = STAGES.filter((st) => st.results.some((r) => r.name.endsWith('_EVIDENCE'))).map((st) => st.name).sort();
      expect(withEvidence).to.include.members(['agent-run', 'classify', 'sbom', 'sca', 'test']);
      for (const st of STAGES) {
        const names = stageParams(st).map((p) => p.name);
        expect(names.includes('evidence-repository') && names.includes('docker-config'), st.name).to.equal(withEvidence.includes(st.name));
      }
      const plain: Stage = { ...probe({}), results: [{ name: 'OUT', description: 'plain' }] };
      const d = join(tmp(), String(++n));
      mkdirSync(d);
      const err = await runStage(plain, { params: { 'evidence-repository': `${front.host}/${REPO}` }, source: d, resultPaths: {} }).catch((e: unknown) => e);
      expect(isVouchError(err, 'STAGE_USAGE') && (err as Error).message.includes('unknown param "evidence-repository"'), String(err)).to.equal(true);
    });

    it('without evidence-repository the claim stays file:// and nothing is pushed', async () => {
      const d = join(tmp(), String(++n));
      mkdirSync(join(d, 'source'), { recursive: true });
      front.requests.length = 0;
      await runStage(probe({ result: 'PASSED' }), { params: {}, source: join(d, 'source'), resultPaths: { TEST_EVIDENCE: join(d, 'r') } });
      expect((JSON.parse(readFileSync(join(d, 'r'), 'utf8')) as Claim).uri).to.match(/^file:\/\//);
      expect(front.requests).to.deep.equal([]);
    });

    it('a push that fails fails the stage loudly with no result and no report (never a silent file:// claim)', async () => {
      const d = join(tmp(), String(++n));
      mkdirSync(join(d, 'source'), { recursive: true });
      // nothing listens on port 9 of loopback
      const err = await runStage(probe({ result: 'PASSED' }), { params: { 'evidence-repository': `127.0.0.1:9/${REPO}` }, source: join(d, 'source'), resultPaths: { TEST_EVIDENCE: join(d, 'r') } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isVouchError(err, 'STAGE_EVIDENCE_PUSH_FAILED'), String(err)).to.equal(true);
      expect((err as Error).message).to.include('cannot push gate evidence TEST_EVIDENCE to 127.0.0.1:9/evidence').and.include('no result was written');
      expect(existsSync(join(d, 'r'))).to.equal(false);
      expect(existsSync(join(d, 'source', '.vouch'))).to.equal(false);
      // a repository that is not registry/repository is a usage error
      const bad = await runStage(probe({ result: 'PASSED' }), { params: { 'evidence-repository': 'just-a-name' }, source: join(d, 'source'), resultPaths: {} }).catch((e: unknown) => e);
      expect(isVouchError(bad, 'STAGE_USAGE'), String(bad)).to.equal(true);
    });

    it('reads push credentials from a Docker config.json (Basic and the token flow); a wrong password is a clear error', async () => {
      const dir = join(tmp(), `docker-${String(++n)}`);
      mkdirSync(dir);
      const auth = (user: string, password: string): string => JSON.stringify({ auths: { [`http://${front.host}/v2/`]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });
      writeFileSync(join(dir, 'config.json'), auth(front.user, front.password));
      for (const mode of ['basic', 'bearer'] as const) {
        front.mode = mode;
        const { claim } = await push({ result: 'PASSED', mode }, { 'docker-config': dir });
        expect(claim.uri).to.match(/^oci:\/\//);
      }
      front.mode = 'basic';
      writeFileSync(join(dir, 'config.json'), auth(front.user, 'wrong-password'));
      const err = await push({ result: 'PASSED' }, { 'docker-config': dir }).catch((e: unknown) => e);
      expect(isVouchError(err, 'STAGE_EVIDENCE_PUSH_FAILED'), String(err)).to.equal(true);
      expect((err as Error).message).to.include('check the registry credentials').and.not.include('wrong-password');
      // no credentials at all for a registry that wants them: says so
      // the credentials never reach the log
      expect(logLines.join('')).to.not.include(front.password).and.not.include(Buffer.from(`${front.user}:${front.password}`).toString('base64'));
      const none = await push({ result: 'PASSED' }).catch((e: unknown) => e);
      expect((none as Error).message).to.include('requires a username and password');
      // a config.json that is not JSON: clear, and it never quotes the file
      writeFileSync(join(dir, 'config.json'), `{"auths": "${front.password}`);
      const broken = await push({ result: 'PASSED' }, { 'docker-config': dir }).catch((e: unknown) => e);
      expect(isVouchError(broken, 'STAGE_INPUT_INVALID'), String(broken)).to.equal(true);
      expect((broken as Error).message).to.include('not a JSON object').and.not.include(front.password);
    });

    it('parses Docker config entries: auth, username/password, registrytoken, URL keys, legacy .dockercfg; identitytoken and helpers are refused clearly', async () => {
      const b64 = (s: string): string => Buffer.from(s).toString('base64');
      expect(dockerConfigEntry({ auths: { 'https://index.docker.io/v1/': { auth: b64('u:p:q') } } }, 'docker.io')).to.deep.equal({ credentials: { username: 'u', password: 'p:q' } });
      expect(dockerConfigEntry({ auths: { 'reg.example:5000': { username: 'u', password: 'p' } } }, 'reg.example:5000')).to.deep.equal({ credentials: { username: 'u', password: 'p' } });
      expect(dockerConfigEntry({ auths: { 'reg.example': { registrytoken: 't' } } }, 'reg.example')).to.deep.equal({ credentials: { token: 't' } });
      expect(dockerConfigEntry({ 'reg.example': { auth: b64('u:p') } }, 'reg.example')).to.deep.equal({ credentials: { username: 'u', password: 'p' } });
      expect(dockerConfigEntry({ auths: { 'other.example': { auth: b64('u:p') } } }, 'reg.example')).to.equal(undefined);
      expect(dockerConfigEntry({ auths: { 'reg.example': { identitytoken: 'x' } } }, 'reg.example')).to.have.property('unsupported').that.includes('identitytoken');
      expect(dockerConfigEntry({ auths: { 'reg.example': { auth: b64('no-colon') } } }, 'reg.example')).to.have.property('unsupported');
      expect(dockerConfigEntry({ auths: {}, credHelpers: { 'reg.example': 'ecr-login' } }, 'reg.example')).to.have.property('unsupported').that.includes('credential helper');
      const dir = join(tmp(), `docker-${String(++n)}`);
      mkdirSync(dir);
      expect(await dockerConfigCredentials(dir, 'reg.example')).to.equal(undefined);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'reg.example': { identitytoken: 'secret-refresh-token' } } }));
      const err = await dockerConfigCredentials(dir, 'reg.example').catch((e: unknown) => e);
      expect(isVouchError(err, 'CONFIG_INVALID')).to.equal(true);
      expect((err as Error).message).to.include('identitytoken').and.not.include('secret-refresh-token');
    });
  });

  describe('sidecar side', () => {
    let h: Harness;
    const allowed = (): string => `${front.host}/${REPO}`;
    async function open(more: { maxBytes?: number; waitMs?: number; repositories?: string[]; registryCredentials?: Record<string, { username: string; password: string }> } = {}): Promise<void> {
      // no evidence roots at all: only the OCI transport can deliver
      await h.restart({
        logger: logger(),
        evidence: {
          roots: [],
          repositories: more.repositories ?? [allowed()],
          registryTimeoutMs: 2_000,
          ...(more.maxBytes ? { maxBytes: more.maxBytes } : {}),
          ...(more.waitMs !== undefined ? { waitMs: more.waitMs } : {}),
          ...(more.registryCredentials ? { registryCredentials: more.registryCredentials } : {}),
        },
      });
    }
    async function deliver(set: RunSet): Promise<void> {
      for (const ev of eventsOf(set)) await post(h.url, ev);
      expect(await h.sidecar.idle(20_000)).to.equal(true);
    }
    const refused = (kind: string): number => h.sidecar.metrics.get('vouch_sidecar_evidence_refused_total', { reason: kind });
    beforeEach(async () => {
      h = await harness();
      await open();
    });
    afterEach(async () => {
      await h.close();
    });

    it('fetches an allow-listed claim by digest and signs it with the run\'s subjects; the bundle verifies and the provenance lists the oci:// byproduct', async () => {
      const predicate = { result: 'PASSED', configuration: [], passedTests: ['x'], warnedTests: [], failedTests: [] };
      const { claim } = await push(predicate);
      const set = makeRun('oci-evidence', 2);
      addResults(set, 0, { TEST_EVIDENCE: claim });
      await deliver(set);
      const records = await h.store.list(set.image.sha256);
      expect(records.map((r) => r.predicateType).sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
      for (const r of records) {
        const v = verifyBundle({ bundle: r.bundle, artifact: { sha256: set.image.sha256 }, policy: { publicKey: publicKeyOf(h.key) }, trustedRoot: h.trustedRoot });
        expect(v.statement?.subject).to.deep.equal([{ name: set.image.url, digest: { sha256: set.image.sha256 } }]);
      }
      const ev = records.find((r) => r.predicateType === TEST_RESULT_V01)!;
      expect(statementOf(ev).predicate).to.deep.equal(predicate);
      expect(ev.runUid).to.equal(set.trs[0]!.metadata.uid);
      const prov = statementOf(records.find((r) => r.predicateType === SLSA_PROVENANCE_V1)!).predicate as { runDetails: { byproducts: { name: string; uri?: string; annotations?: unknown }[] } };
      expect(prov.runDetails.byproducts.filter((b) => b.annotations)).to.deep.equal([{ name: 'task0/TEST_EVIDENCE', uri: claim.uri, digest: { sha256: claim.digest.slice(7) }, annotations: { predicateType: TEST_RESULT_V01 } }]);
      expect(h.sidecar.metrics.get('vouch_sidecar_evidence_attested_total')).to.equal(1);
    });

    it('refuses a repository that is not allow-listed (exactly, no prefix tricks) without a single request', async () => {
      const { claim } = await push({ result: 'PASSED' });
      const loc = parseEvidenceUri(claim.uri);
      const set = makeRun('oci-foreign', 4);
      addResults(set, 0, { TEST_EVIDENCE: { ...claim, uri: `oci://${front.host}/evidence-other@sha256:${loc.digest}` } });
      addResults(set, 1, { TEST_EVIDENCE: { ...claim, uri: `oci://${front.host}/evidence/sub@sha256:${loc.digest}` } });
      addResults(set, 2, { TEST_EVIDENCE: { ...claim, uri: `oci://169.254.169.254/latest@sha256:${loc.digest}` } });
      // Docker Hub shorthand (no explicit registry) and a tag instead of a digest are malformed
      addResults(set, 3, { TEST_EVIDENCE: { ...claim, uri: `oci://evidence@sha256:${loc.digest}` } });
      front.requests.length = 0;
      await deliver(set);
      expect(front.requests).to.deep.equal([]);
      expect(refused('not_allowed')).to.equal(3);
      expect(refused('malformed')).to.equal(1);
      expect((await h.store.list(set.image.sha256)).map((r) => r.predicateType)).to.deep.equal([SLSA_PROVENANCE_V1]);
    });

    it('refuses a manifest whose bytes are not its digest, a layer that is not the claimed digest, two layers, a wrong media type, a non-object predicate', async () => {
      const good = await push({ result: 'PASSED', which: 'good' });
      const other = await push({ result: 'PASSED', which: 'other' });
      const goodLoc = parseEvidenceUri(good.claim.uri);
      const otherManifest = (await client.getManifest(REPO, `sha256:${parseEvidenceUri(other.claim.uri).digest}`))!.body;
      const p1 = Buffer.from('{"result":"PASSED","n":1}');
      const p2 = Buffer.from('{"result":"PASSED","n":2}');
      const twoLayers = await pushManifest(manifestOf([layerOf(p1), layerOf(p2)]), [p1, p2], sha256(p1));
      const wrongType = await pushManifest(manifestOf([layerOf(p1, 'application/vnd.oci.image.layer.v1.tar+gzip')]), [p1], sha256(p1));
      const array = Buffer.from('[1,2,3]');
      const arrayArtifact = evidenceArtifact({ predicate: array, predicateType: TEST_RESULT_V01, stage: 'probe', result: 'TEST_EVIDENCE', file: 'x.json' });
      for (const b of [EMPTY_CONFIG, array]) await client.putBlob(REPO, b);
      await client.putManifest(REPO, arrayArtifact.tag, arrayArtifact.manifest, OCI_MANIFEST_MEDIA_TYPE);
      const notObject = { predicateType: TEST_RESULT_V01, uri: `oci://${front.host}/${REPO}@sha256:${arrayArtifact.manifestDigest}`, digest: `sha256:${sha256(array)}` };
      // a registry that serves other bytes for the good manifest's digest
      const lie = `/v2/${REPO}/manifests/sha256:${goodLoc.digest}`;
      front.respond = (method, path) => (path === lie ? { status: 200, headers: { 'content-type': OCI_MANIFEST_MEDIA_TYPE }, body: otherManifest } : undefined);
      const set = makeRun('oci-shapes', 5);
      addResults(set, 0, { TEST_EVIDENCE: good.claim });
      addResults(set, 1, { TEST_EVIDENCE: { ...other.claim, digest: good.claim.digest } });
      addResults(set, 2, { TEST_EVIDENCE: twoLayers });
      addResults(set, 3, { TEST_EVIDENCE: wrongType });
      addResults(set, 4, { TEST_EVIDENCE: notObject });
      await deliver(set);
      expect(refused('digest_mismatch')).to.equal(2);
      expect(refused('wrong_shape')).to.equal(2);
      expect(refused('not_json')).to.equal(1);
      expect((await h.store.list(set.image.sha256)).map((r) => r.predicateType)).to.deep.equal([SLSA_PROVENANCE_V1]);
    });

    it('refuses a layer over sidecar.maxEvidenceBytes on the manifest\'s word, before downloading it', async () => {
      const { claim } = await push({ result: 'PASSED', padding: 'x'.repeat(400) });
      await open({ maxBytes: 256 });
      const set = makeRun('oci-large', 2);
      addResults(set, 0, { TEST_EVIDENCE: claim });
      front.requests.length = 0;
      await deliver(set);
      expect(refused('too_large')).to.equal(1);
      expect(front.requests.filter((r) => r.includes('/manifests/'))).to.have.length.greaterThan(0);
      expect(front.requests.filter((r) => r.includes('/blobs/'))).to.deep.equal([]);
    });

    it('a registry serving a layer larger than its manifest says is cut off (by Content-Length, and while reading a chunked body)', async () => {
      for (const chunked of [false, true]) {
        const { claim } = await push({ result: 'PASSED', chunked });
        const blob = `/v2/${REPO}/blobs/${claim.digest}`;
        front.respond = (method, path) => (method === 'GET' && path === blob ? { status: 200, headers: { 'content-type': 'application/octet-stream', ...(chunked ? { 'transfer-encoding': 'chunked' } : {}) }, body: Buffer.alloc(1 << 20, 0x20) } : undefined);
        const set = makeRun(`oci-liar-${String(chunked)}`, 2);
        addResults(set, 0, { TEST_EVIDENCE: claim });
        await deliver(set);
        front.respond = undefined;
        expect((await h.store.list(set.image.sha256)).map((r) => r.predicateType)).to.deep.equal([SLSA_PROVENANCE_V1]);
      }
      expect(refused('too_large')).to.equal(2);
      expect(logLines.join('')).to.include('has 1048576 bytes, over the').and.match(/is over the [0-9]+-byte bound/);
    });

    it('a registry that is down makes the run wait and retry; after the restart the statement arrives, exactly once', async () => {
      const predicate = { result: 'PASSED', outage: true };
      const { claim } = await push(predicate);
      const set = makeRun('oci-outage', 2);
      addResults(set, 0, { TEST_EVIDENCE: claim });
      await registry.kill();
      try {
        for (const ev of eventsOf(set)) await post(h.url, ev);
        // it keeps failing and retrying, refusing nothing and signing nothing meanwhile
        for (let i = 0; i < 400 && h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 3; i++) await new Promise((r) => setTimeout(r, 25));
        expect(h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total')).to.be.at.least(3);
        expect(h.sidecar.metrics.get('vouch_sidecar_evidence_refused_total', { reason: 'unavailable' })).to.equal(0);
        expect(await h.store.list(set.image.sha256)).to.deep.equal([]);
        expect(logLines.join('')).to.include('gate evidence task0/TEST_EVIDENCE cannot be fetched yet; the run waits and retries');
      } finally {
        await registry.start(true);
      }
      expect(await h.sidecar.idle(20_000)).to.equal(true);
      const records = await h.store.list(set.image.sha256);
      expect(records.map((r) => r.predicateType).sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
      expect(statementOf(records.find((r) => r.predicateType === TEST_RESULT_V01)!).predicate).to.deep.equal(predicate);
      expect(h.log.size).to.equal(2);
      // delivered again after a restart: nothing new
      await h.restart({ evidence: { roots: [], repositories: [allowed()] } });
      await deliver(set);
      expect(h.log.size).to.equal(2);
      expect(await h.store.list(set.image.sha256)).to.have.length(2);
    });

    it('past sidecar.evidenceWaitSeconds an unreachable registry or a missing manifest is refused and the provenance goes on without it', async () => {
      const { claim } = await push({ result: 'PASSED', late: true });
      await open({ waitMs: 0 });
      const set = makeRun('oci-gone', 2);
      addResults(set, 0, { TEST_EVIDENCE: { ...claim, uri: `oci://${front.host}/${REPO}@sha256:${'e'.repeat(64)}` } });
      await deliver(set);
      expect(refused('not_found')).to.equal(1);
      const down = makeRun('oci-down', 2);
      addResults(down, 0, { TEST_EVIDENCE: claim });
      await registry.kill();
      try {
        await deliver(down);
      } finally {
        await registry.start(true);
      }
      expect(refused('unavailable')).to.equal(1);
      expect(logLines.join('')).to.include('gate evidence task0/TEST_EVIDENCE refused, not attested').and.include('given up after waiting');
      for (const s of [set, down]) expect((await h.store.list(s.image.sha256)).map((r) => r.predicateType)).to.deep.equal([SLSA_PROVENANCE_V1]);
    });

    it('pulls with the credentials sidecar.evidenceDockerConfig holds; refused credentials are waited on like an outage, never a quiet refusal', async () => {
      const { claim } = await push({ result: 'PASSED', pulled: 'with credentials' });
      front.mode = 'bearer';
      // config: the allow-list and a Docker config.json directory, read once at start
      const dir = join(tmp(), `sidecar-docker-${String(++n)}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { [front.host]: { username: front.user, password: front.password } } }));
      const config = defaultConfig();
      config.sidecar.evidenceRepositories = `${allowed()}, ${front.host}/second`;
      config.sidecar.evidenceDockerConfig = dir;
      const options = await ociEvidenceOptions(config);
      expect(options.repositories).to.deep.equal([allowed(), `${front.host}/second`]);
      expect(options.registryCredentials).to.deep.equal({ [front.host]: { username: front.user, password: front.password } });
      await open({ registryCredentials: options.registryCredentials as Record<string, { username: string; password: string }> });
      const set = makeRun('oci-auth', 2);
      addResults(set, 0, { TEST_EVIDENCE: claim });
      await deliver(set);
      expect((await h.store.list(set.image.sha256)).map((r) => r.predicateType).sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
      // wrong password: retried until the wait is over, then refused as unavailable (the provenance goes on)
      await open({ waitMs: 0, registryCredentials: { [front.host]: { username: front.user, password: 'wrong' } } });
      const denied = makeRun('oci-auth-denied', 2);
      addResults(denied, 0, { TEST_EVIDENCE: claim });
      await deliver(denied);
      expect(refused('unavailable')).to.equal(1);
      expect(logLines.join('')).to.include('refused the configured credentials');
      // a credentials file that is not JSON stops the start, without quoting it
      writeFileSync(join(dir, 'config.json'), `{"auths": ${front.password}`);
      const err = await ociEvidenceOptions(config).catch((e: unknown) => e);
      expect(isVouchError(err, 'CONFIG_INVALID'), String(err)).to.equal(true);
      expect((err as Error).message).to.not.include(front.password);
    });

    it('refuses a sidecar.evidenceRepositories entry that is not registry/repository at start', async () => {
      for (const entry of ['evidence', `${front.host}/evidence:latest`, `oci://${front.host}/evidence`]) {
        const err = await Sidecar.open({ dataDir: join(tmp(), `bad-${String(++n)}`), privateKey: h.key, store: h.store, tlog: { embedded: h.log }, evidence: { roots: [], repositories: [entry] } }).catch((e: unknown) => e);
        expect(isVouchError(err, 'CONFIG_INVALID'), `${entry}: ${String(err)}`).to.equal(true);
      }
    });
  });
});
