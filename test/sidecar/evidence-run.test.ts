// Gate evidence end to end: the test, sbom and sca Tasks of tasks/ and a stand-in build run for real under
// `vouch run --store --log-data --key` (sandboxed steps, in-process sidecar, embedded log). Every stored bundle
// verifies with `vouch verify-bundle` and the log's trusted root; the evidence statements carry the provenance's
// subjects and the very predicate files the stages wrote; the provenance lists them in its byproducts; a step's claim
// outside the run's workspaces is refused.
import { expect } from 'chai';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { CYCLONEDX_BOM, SLSA_PROVENANCE_V1, TEST_RESULT_V01, VULNS_V01 } from '../../src/attest/predicates.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { REPO_ROOT, runVouch, SHARED } from '../helpers/cli.ts';
import { commit, initRepo, requireTool } from '../stages/helpers.ts';
import { lodashProject } from '../stages/npm-project.ts';
import { quiet, verifiedStoredStatements } from './helpers.ts';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('sidecar: gate evidence from a real vouch run (test, sbom, sca stages)', function () {
  this.timeout(180_000);
  let root = '';

  before(async () => {
    requireTool('bwrap');
    requireTool('git');
    // the sandbox hides /tmp: the workspaces live where steps can see them
    root = mkdtempSync('/var/tmp/vouch-evidence-run-');
    const keys = await runVouch(['keys', 'generate', '--out', join(root, 'signer')], { env: { VOUCH_KEY_PASSWORD: '' } });
    expect(keys.code, keys.stderr).to.equal(0);
  });
  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('stores verified test-result, SBOM and vulnerability statements with the provenance subjects, exactly once', async () => {
    const source = initRepo(join(root, 'source'));
    const base = commit(source, { 'package-lock.json': JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'demo', version: '1.0.0' } } }) }, 'base');
    const head = commit(source, { 'package-lock.json': JSON.stringify(lodashProject('4.17.21'), null, 2) }, 'add lodash');
    const osv = join(root, 'osv');
    cpSync(join(SHARED, 'fixtures', 'osv'), osv, { recursive: true, dereference: true });
    const store = join(root, 'store');
    const tlog = join(root, 'tlog');
    const r = await runVouch(
      ['run', '--pipeline', join(REPO_ROOT, 'test/sidecar/fixtures/gate-evidence.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '--host-image', 'busybox',
        '-p', `base-revision=${base}`, '-p', `head-revision=${head}`, '-w', `source=${source}`, '-w', `osv=${osv}`,
        '--run-dir', join(root, 'run'), '--store', store, '--log-data', tlog, '--key', join(root, 'signer.key'), '--json'],
      { env: { VOUCH_SIDECAR_DATA: join(root, 'sidecar'), VOUCH_KEY_PASSWORD: '' }, timeoutMs: 170_000 },
    );
    expect(r.code, r.stderr).to.equal(0);
    const trustedRoot = await runVouch(['log', 'trusted-root', '--data', tlog]);
    expect(trustedRoot.code, trustedRoot.stderr).to.equal(0);
    writeFileSync(join(root, 'trusted_root.json'), trustedRoot.stdout);

    const imageDigest = sha256(readFileSync(join(source, 'package-lock.json')));
    expect(readdirSync(store)).to.deep.equal([imageDigest]);
    const statements = await verifiedStoredStatements(store, imageDigest, root, 4);
    expect([...statements.keys()].sort()).to.deep.equal([CYCLONEDX_BOM, SLSA_PROVENANCE_V1, TEST_RESULT_V01, VULNS_V01].sort());
    const provenance = statements.get(SLSA_PROVENANCE_V1)!;
    expect(provenance.subject).to.deep.equal([{ name: 'registry.example/app', digest: { sha256: imageDigest } }]);
    for (const s of statements.values()) expect(s.subject).to.deep.equal(provenance.subject);

    // the predicates are the files the stages wrote, byte for byte what the provenance's byproducts name
    const reports = join(source, '.vouch', 'reports');
    const files: [string, string, string][] = [
      ['test/TEST_EVIDENCE', TEST_RESULT_V01, join(reports, 'test', 'test-result.json')],
      ['sbom/SBOM_EVIDENCE', CYCLONEDX_BOM, join(reports, 'sbom', 'sbom.cdx.json')],
      ['sca/VULNS_EVIDENCE', VULNS_V01, join(reports, 'sca', 'vulns-predicate.json')],
    ];
    const byproducts = (provenance.predicate as { runDetails: { byproducts: { name: string; annotations?: unknown }[] } }).runDetails.byproducts.filter((b) => b.annotations);
    expect(byproducts).to.deep.equal(
      files.map(([name, predicateType, file]) => ({ name, uri: pathToFileURL(file).href, digest: { sha256: sha256(readFileSync(file)) }, annotations: { predicateType } })),
    );
    for (const [, predicateType, file] of files) expect(statements.get(predicateType)!.predicate).to.deep.equal(JSON.parse(readFileSync(file, 'utf8')));
    expect((statements.get(TEST_RESULT_V01)!.predicate as { passedTests: string[] }).passedTests).to.deep.equal(['adds', 'subtracts']);

    // the forged claim (a step naming /etc/passwd with its true digest) was refused: the roots are the workspaces
    const forger = readdirSync(join(root, 'run', 'taskruns')).map((f) => JSON.parse(readFileSync(join(root, 'run', 'taskruns', f), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { results?: { name: string; value: unknown }[] } }).find((t) => t.metadata.labels['tekton.dev/pipelineTask'] === 'forger');
    expect(forger?.status.results?.find((x) => x.name === 'TEST_EVIDENCE')?.value).to.deep.include({ uri: 'file:///etc/passwd' });
    expect(r.stderr).to.include('gate evidence forger/TEST_EVIDENCE refused, not attested: /etc/passwd is outside the evidence roots');
    // the log holds each statement once
    const log = await EmbeddedLog.open(tlog, { logger: quiet });
    try {
      expect(log.size).to.equal(4);
    } finally {
      await log.close();
    }
  });
});
