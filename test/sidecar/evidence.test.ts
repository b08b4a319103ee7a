// Gate evidence through the sidecar: `*_EVIDENCE` results of a PipelineRun's TaskRuns become signed, logged,
// verified and stored statements with the provenance's subjects; claims outside the evidence roots, with the wrong
// digest or an unknown type are refused (logged, counted, journaled) without touching the provenance; retries and
// restarts attest each evidence exactly once.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CYCLONEDX_BOM, RISK_ASSESSMENT_V01, SLSA_PROVENANCE_V1, TEST_RESULT_V01, VULNS_V01 } from '../../src/attest/predicates.ts';
import { publicKeyOf } from '../../src/attest/keys.ts';
import { verifyBundle } from '../../src/attest/verify.ts';
import { configureLogging, logger } from '../../src/common/log.ts';
import { checkEvidence, evidenceClaims } from '../../src/sidecar/evidence.ts';
import { LocalStore } from '../../src/store/local.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { toV1beta1TaskRun } from '../../src/tekton/events.ts';
import type { TaskRun } from '../../src/tekton/types.ts';
import { eventsOf, harness, makeRun, post, type Harness, type RunSet } from './helpers.ts';
import { captureLogs } from '../helpers/log.ts';

interface Evidence {
  predicateType: string;
  uri: string;
  digest: string;
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** Writes a predicate file and returns the evidence result value naming it. */
function predicateFile(path: string, predicate: unknown, predicateType: string): Evidence {
  const bytes = Buffer.from(JSON.stringify(predicate));
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  return { predicateType, uri: pathToFileURL(path).href, digest: `sha256:${sha256(bytes)}` };
}

/** Adds object results to a TaskRun of the set (v1 shape; the events carry them as v1beta1). */
function addResults(set: RunSet, task: number, results: Record<string, unknown>): void {
  const status = set.trs[task]!.status as { results?: { name: string; type: string; value: unknown }[] };
  status.results = [...(status.results ?? []), ...Object.entries(results).map(([name, value]) => ({ name, type: 'object', value }))];
}

function statementOf(r: AttestationRecord): { subject: { name: string; digest: { sha256: string } }[]; predicateType: string; predicate: Record<string, unknown> } {
  return JSON.parse(Buffer.from((r.bundle as { dsseEnvelope: { payload: string } }).dsseEnvelope.payload, 'base64').toString('utf8')) as ReturnType<typeof statementOf>;
}

/** Every record of the set's image, each verified (signature, log entry) against the log's trusted root. */
function verified(h: Harness, records: AttestationRecord[], set: RunSet): AttestationRecord[] {
  for (const r of records) {
    const result = verifyBundle({ bundle: r.bundle, artifact: { sha256: set.image.sha256 }, policy: { publicKey: publicKeyOf(h.key) }, trustedRoot: h.trustedRoot });
    expect(result.statement?.subject).to.deep.equal([{ name: set.image.url, digest: { sha256: set.image.sha256 } }]);
  }
  return records;
}

async function deliver(h: Harness, set: RunSet): Promise<void> {
  for (const ev of eventsOf(set)) await post(h.url, ev);
  expect(await h.sidecar.idle(15_000)).to.equal(true);
}

describe('sidecar: gate evidence', function () {
  this.timeout(30_000);
  let h: Harness;
  let roots: string;
  let logLines: string[] = [];
  before(() => {
    logLines = captureLogs('warn');
  });
  after(() => configureLogging());
  beforeEach(async () => {
    logLines.length = 0;
    h = await harness();
    roots = join(h.dir, 'workspace');
    mkdirSync(roots);
    await h.restart({ evidence: { roots: [roots] }, logger: logger() });
  });
  afterEach(async () => {
    await h.close();
  });

  it('each *_EVIDENCE result becomes a verified statement with the provenance subjects; the provenance lists it in byproducts', async () => {
    const set = makeRun('evidence', 2);
    const test = { result: 'PASSED', configuration: [], passedTests: ['a'], warnedTests: [], failedTests: [] };
    const bom = { bomFormat: 'CycloneDX', specVersion: '1.6', components: [] };
    addResults(set, 0, { TEST_EVIDENCE: predicateFile(join(roots, 'reports/test/test-result.json'), test, TEST_RESULT_V01) });
    addResults(set, 1, { SBOM_EVIDENCE: predicateFile(join(roots, 'reports/sbom/sbom.cdx.json'), bom, CYCLONEDX_BOM) });
    await deliver(h, set);

    const records = verified(h, await h.store.list(set.image.sha256), set);
    expect(records.map((r) => r.predicateType).sort()).to.deep.equal([CYCLONEDX_BOM, SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
    expect(h.log.size).to.equal(3);
    const byType = new Map(records.map((r) => [r.predicateType, r]));
    expect(statementOf(byType.get(TEST_RESULT_V01)!).predicate).to.deep.equal(test);
    expect(statementOf(byType.get(CYCLONEDX_BOM)!).predicate).to.deep.equal(bom);
    // evidence is filed under the TaskRun that produced it, the provenance under the PipelineRun
    expect(byType.get(TEST_RESULT_V01)!.runUid).to.equal(set.trs[0]!.metadata.uid);
    expect(byType.get(TEST_RESULT_V01)!.run).to.deep.include({ kind: 'TaskRun', name: set.trs[0]!.metadata.name });
    expect(byType.get(SLSA_PROVENANCE_V1)!.runUid).to.equal(set.pr.metadata.uid);
    const provenance = statementOf(byType.get(SLSA_PROVENANCE_V1)!).predicate as { runDetails: { byproducts: { name: string; uri?: string; digest?: Record<string, string>; annotations?: Record<string, string> }[] } };
    const listed = provenance.runDetails.byproducts.filter((b) => b.annotations);
    expect(listed).to.deep.equal([
      { name: 'task0/TEST_EVIDENCE', uri: pathToFileURL(join(roots, 'reports/test/test-result.json')).href, digest: { sha256: sha256(readFileSync(join(roots, 'reports/test/test-result.json'))) }, annotations: { predicateType: TEST_RESULT_V01 } },
      { name: 'task1/SBOM_EVIDENCE', uri: pathToFileURL(join(roots, 'reports/sbom/sbom.cdx.json')).href, digest: { sha256: sha256(readFileSync(join(roots, 'reports/sbom/sbom.cdx.json'))) }, annotations: { predicateType: CYCLONEDX_BOM } },
    ]);
    expect(h.sidecar.metrics.get('vouch_sidecar_evidence_attested_total')).to.equal(2);
    expect(h.sidecar.metrics.get('vouch_sidecar_attestations_signed_total')).to.equal(1);
  });

  it('refuses claims outside the roots (the signing key, /etc/passwd, a symlink escape), with a wrong digest, an unknown type or a type under another result name; the provenance is still signed', async () => {
    const set = makeRun('forged', 6);
    // a file outside the roots with its true digest: the claim is exact, only the place is wrong
    const keyFile = join(h.dir, 'signing-key.pem');
    writeFileSync(keyFile, '{"not":"really a key, but outside the roots"}');
    const keyClaim = { predicateType: TEST_RESULT_V01, uri: pathToFileURL(keyFile).href, digest: `sha256:${sha256(readFileSync(keyFile))}` };
    const passwd = { predicateType: TEST_RESULT_V01, uri: 'file:///etc/passwd', digest: `sha256:${sha256(readFileSync('/etc/passwd'))}` };
    symlinkSync(keyFile, join(roots, 'innocent.json'));
    const escape = { predicateType: CYCLONEDX_BOM, uri: pathToFileURL(join(roots, 'innocent.json')).href, digest: keyClaim.digest };
    const dotdot = { predicateType: CYCLONEDX_BOM, uri: `file://${roots}/../signing-key.pem`, digest: keyClaim.digest };
    const mismatch = { ...predicateFile(join(roots, 'vulns.json'), { scanner: {} }, VULNS_V01), digest: `sha256:${'0'.repeat(64)}` };
    // a stage must not get the sidecar to sign a provenance of its making
    const forgedProvenance = predicateFile(join(roots, 'prov.json'), { buildDefinition: {} }, SLSA_PROVENANCE_V1);
    const good = predicateFile(join(roots, 'test-result.json'), { result: 'PASSED', configuration: [], passedTests: [], warnedTests: [], failedTests: [] }, TEST_RESULT_V01);
    // nor have a step's result carry another stage's type: a test task's code posing as the risk assessment
    const posing = predicateFile(join(roots, 'risk.json'), { tier: 'low', reasons: [], requiredApprovals: { count: 0, groups: {} } }, RISK_ASSESSMENT_V01);
    addResults(set, 0, { TEST_EVIDENCE: keyClaim });
    addResults(set, 1, { TEST_EVIDENCE: passwd });
    addResults(set, 2, { SBOM_EVIDENCE: escape });
    addResults(set, 3, { SBOM_EVIDENCE: dotdot });
    addResults(set, 4, { VULNS_EVIDENCE: mismatch, PROV_EVIDENCE: forgedProvenance, TEST_EVIDENCE: posing, BROKEN_EVIDENCE: 'not an object' });
    addResults(set, 5, { TEST_EVIDENCE: good, AGAIN_EVIDENCE: good });
    await deliver(h, set);

    const records = verified(h, await h.store.list(set.image.sha256), set);
    expect(records.map((r) => r.predicateType).sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
    expect(h.log.size).to.equal(2);
    const m = h.sidecar.metrics;
    expect(m.get('vouch_sidecar_evidence_refused_total', { reason: 'outside_roots' })).to.equal(4);
    expect(m.get('vouch_sidecar_evidence_refused_total', { reason: 'digest_mismatch' })).to.equal(1);
    expect(m.get('vouch_sidecar_evidence_refused_total', { reason: 'unknown_type' })).to.equal(1);
    expect(m.get('vouch_sidecar_evidence_refused_total', { reason: 'type_mismatch' })).to.equal(2);
    expect(m.get('vouch_sidecar_evidence_refused_total', { reason: 'malformed' })).to.equal(1);
    expect(m.get('vouch_sidecar_evidence_attested_total')).to.equal(1);
    const warnings = logLines.join('');
    expect(warnings).to.include('gate evidence task0/TEST_EVIDENCE refused, not attested').and.include(`${keyFile} is outside the evidence roots`);
    expect(warnings).to.include('task2/SBOM_EVIDENCE').and.include(`(really ${keyFile})`);
    expect(warnings).to.include('task4/VULNS_EVIDENCE').and.include(`the result claims sha256:${'0'.repeat(64)}`);
    expect(warnings).to.include(`result TEST_EVIDENCE carries ${TEST_RESULT_V01} evidence, not ${RISK_ASSESSMENT_V01}`);
    // nothing of the refused files reached a statement; the provenance lists only what was attested
    const provenance = statementOf(records.find((r) => r.predicateType === SLSA_PROVENANCE_V1)!).predicate as { runDetails: { byproducts: { name: string; annotations?: unknown }[] } };
    expect(provenance.runDetails.byproducts.filter((b) => b.annotations).map((b) => b.name)).to.deep.equal(['task5/TEST_EVIDENCE']);
    // refusals are recorded in the journal, with their reasons
    const journal = readFileSync(join(h.dir, 'data', 'sidecar.journal'), 'latin1');
    expect(journal).to.include('"t":"v"').and.include('"kind":"outside_roots"').and.include(`${keyFile} is outside the evidence roots`);
    // a restart neither revisits nor recounts them
    await h.restart({ evidence: { roots: [roots] } });
    for (const ev of eventsOf(set)) await post(h.url, ev);
    expect(await h.sidecar.idle(10_000)).to.equal(true);
    expect(h.sidecar.metrics.get('vouch_sidecar_evidence_refused_total', { reason: 'outside_roots' })).to.equal(0);
    expect(h.log.size).to.equal(2);
  });

  it('with no evidence roots configured nothing is read, and the provenance is signed as before', async () => {
    await h.restart({ evidence: { roots: [] } });
    const set = makeRun('noroots', 1);
    addResults(set, 0, { TEST_EVIDENCE: predicateFile(join(roots, 't.json'), { result: 'PASSED' }, TEST_RESULT_V01) });
    await deliver(h, set);
    expect((await h.store.list(set.image.sha256)).map((r) => r.predicateType)).to.deep.equal([SLSA_PROVENANCE_V1]);
    expect(h.sidecar.metrics.get('vouch_sidecar_evidence_refused_total', { reason: 'outside_roots' })).to.equal(1);
  });

  it('a run without subjects: neither the provenance nor its evidence is signed (the evidence would be about nothing)', async () => {
    const set = makeRun('nosubject', 1);
    (set.trs[0]!.status as { results?: unknown[] }).results = [];
    addResults(set, 0, { TEST_EVIDENCE: predicateFile(join(roots, 't.json'), { result: 'PASSED' }, TEST_RESULT_V01) });
    await deliver(h, set);
    expect(h.log.size).to.equal(0);
    expect(h.sidecar.metrics.get('vouch_sidecar_attestations_failed_total')).to.equal(1);
    expect(h.sidecar.metrics.get('vouch_sidecar_evidence_attested_total')).to.equal(0);
  });

  it('store down, restarts: the journaled evidence envelopes are re-submitted (one log entry each) and stored once; a changed file changes nothing', async () => {
    await h.stop();
    const blocked = join(h.dir, 'blocked-store');
    writeFileSync(blocked, 'not a directory');
    const store = new LocalStore(blocked);
    await h.restart({ store, evidence: { roots: [roots] } });
    const set = makeRun('crash', 2);
    const file = join(roots, 'test-result.json');
    const test = { result: 'PASSED', configuration: [], passedTests: ['x'], warnedTests: [], failedTests: [] };
    addResults(set, 0, { TEST_EVIDENCE: predicateFile(file, test, TEST_RESULT_V01) });
    addResults(set, 1, { VULNS_EVIDENCE: predicateFile(join(roots, 'vulns.json'), { scanner: { result: [] } }, VULNS_V01) });
    for (const ev of eventsOf(set)) await post(h.url, ev);
    while (h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 2) await new Promise((r) => setTimeout(r, 10));
    // the provenance was logged before the store failed; the evidence after it waits its turn
    const logged = h.log.size;
    expect(logged).to.be.within(1, 3);
    await h.restart({ store, evidence: { roots: [roots] } });
    while (h.sidecar.metrics.get('vouch_sidecar_attempts_failed_total') < 1) await new Promise((r) => setTimeout(r, 10));
    // what was signed is what is attested, whatever the workspace holds now
    writeFileSync(file, JSON.stringify({ result: 'FAILED' }));
    rmSync(blocked);
    expect(await h.sidecar.idle(10_000)).to.equal(true);
    expect(h.log.size).to.equal(3);
    const records = verified(h, await store.list(set.image.sha256), set);
    expect(records.map((r) => r.predicateType).sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01, VULNS_V01].sort());
    expect(statementOf(records.find((r) => r.predicateType === TEST_RESULT_V01)!).predicate).to.deep.equal(test);
    expect(h.sidecar.metrics.get('vouch_sidecar_evidence_refused_total', { reason: 'digest_mismatch' })).to.equal(0);
    // and once more, with Tekton re-sending everything: nothing new
    await h.restart({ store, evidence: { roots: [roots] } });
    for (const ev of eventsOf(set)) expect(await post(h.url, ev)).to.equal(200);
    expect(await h.sidecar.idle(10_000)).to.equal(true);
    expect(h.log.size).to.equal(3);
    expect(await store.list(set.image.sha256)).to.have.length(3);
  });

  it('reads evidence results from v1 (status.results) and v1beta1 (status.taskResults) TaskRuns', async () => {
    const set = makeRun('shapes', 1);
    const claim = predicateFile(join(roots, 't.json'), { result: 'PASSED' }, TEST_RESULT_V01);
    addResults(set, 0, { TEST_EVIDENCE: claim });
    const v1 = evidenceClaims('pr', set.trs);
    const v1beta1 = evidenceClaims('pr', [toV1beta1TaskRun(set.trs[0]!) as unknown as TaskRun]);
    expect(v1.map((c) => [c.result, c.value])).to.deep.equal([['TEST_EVIDENCE', claim]]);
    expect(v1beta1.map((c) => [c.result, c.value])).to.deep.equal([['TEST_EVIDENCE', claim]]);
    expect(v1[0]!.id).to.equal(`pr evidence ${set.trs[0]!.metadata.uid!} TEST_EVIDENCE`);
    // a FIFO or a directory inside the roots is not a file; an oversized file is refused before it is read
    const checked = await checkEvidence(v1[0]!, [roots], 10);
    expect(checked).to.deep.include({ kind: 'too_large' });
    const dir = { ...v1[0]!, value: { ...claim, uri: pathToFileURL(roots).href } };
    expect(await checkEvidence(dir, [roots], 1000)).to.deep.include({ kind: 'unreadable' });
    const missing = { ...v1[0]!, value: { ...claim, uri: pathToFileURL(join(roots, 'nope.json')).href } };
    expect(await checkEvidence(missing, [roots], 1000)).to.deep.include({ kind: 'unreadable' });
    const remote = { ...v1[0]!, value: { ...claim, uri: 'https://example.com/t.json' } };
    expect(await checkEvidence(remote, [roots], 1000)).to.deep.include({ kind: 'malformed' });
    expect(await checkEvidence(v1[0]!, [roots], 1000)).to.deep.include({ predicateType: TEST_RESULT_V01, predicate: { result: 'PASSED' } });
  });
});
