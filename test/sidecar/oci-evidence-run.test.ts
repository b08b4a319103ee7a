// Gate evidence over OCI end to end: tasks/test.yaml runs for real under `vouch run --allow-network test --store …`
// (sandboxed step, in-process sidecar, embedded log) with its evidence-repository param set to a real registry
// (Debian docker-registry on loopback). The step pushes the test-result predicate as an OCI artifact; the sidecar,
// whose evidence roots never contain an oci:// claim, fetches it from the allow-listed repository
// (VOUCH_SIDECAR_EVIDENCE_REPOSITORIES) and stores a statement with the provenance's subjects that verifies.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEvidenceUri } from '../../src/attest/evidence-artifact.ts';
import { SLSA_PROVENANCE_V1, TEST_RESULT_V01 } from '../../src/attest/predicates.ts';
import { RegistryClient } from '../../src/common/oci/registry.ts';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { commit, initRepo, requireTool } from '../stages/helpers.ts';
import { TestRegistry } from '../store/registry-harness.ts';
import { verifiedStoredStatements } from './helpers.ts';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function taskRunOf(runDir: string, pipelineTask: string): { status: { results?: { name: string; value: unknown }[] } } | undefined {
  return readdirSync(join(runDir, 'taskruns'))
    .map((f) => JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { results?: { name: string; value: unknown }[] } })
    .find((t) => t.metadata.labels['tekton.dev/pipelineTask'] === pipelineTask);
}

describe('sidecar: gate evidence over OCI from a real vouch run (tasks/test.yaml, docker-registry)', function () {
  this.timeout(180_000);
  const registry = new TestRegistry();
  let root = '';

  before(async () => {
    requireTool('bwrap');
    requireTool('git');
    await registry.start();
    // the sandbox hides /tmp: the workspaces live where steps can see them
    root = mkdtempSync('/var/tmp/vouch-oci-evidence-run-');
    const keys = await runVouch(['keys', 'generate', '--out', join(root, 'signer')], { env: { VOUCH_KEY_PASSWORD: '' } });
    expect(keys.code, keys.stderr).to.equal(0);
  });
  after(async () => {
    await registry.stop();
    registry.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('the step pushes, the sidecar fetches the allow-listed artifact and stores a verified statement with the run\'s subjects', async () => {
    const source = initRepo(join(root, 'source'));
    const base = commit(source, { README: 'base\n' }, 'base');
    const head = commit(source, { README: 'head\n' }, 'change');
    const repository = `${registry.host}/vouch-evidence`;
    const store = join(root, 'store');
    const tlog = join(root, 'tlog');
    const args = ['run', '--pipeline', join(REPO_ROOT, 'test/sidecar/fixtures/oci-evidence.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '--host-image', 'busybox',
      '-p', `base-revision=${base}`, '-p', `head-revision=${head}`, '-p', `evidence-repository=${repository}`, '-w', `source=${source}`,
      '--run-dir', join(root, 'run'), '--store', store, '--log-data', tlog, '--key', join(root, 'signer.key'), '--json'];
    const env = { VOUCH_SIDECAR_DATA: join(root, 'sidecar'), VOUCH_KEY_PASSWORD: '', VOUCH_SIDECAR_EVIDENCE_REPOSITORIES: repository };
    // without network for the test step, the push fails and so does the stage: loudly, not with a file:// claim
    const offline = await runVouch([...args.map((a) => (a === join(root, 'run') ? join(root, 'run-offline') : a)), '--store', join(root, 'store-offline')], { env: { ...env, VOUCH_SIDECAR_DATA: join(root, 'sidecar-offline') }, timeoutMs: 120_000 });
    expect(offline.code).to.not.equal(0);
    const stepLog = readFileSync(join(root, 'run-offline', 'logs', 'test', 'test.log'), 'utf8');
    expect(stepLog).to.include(`cannot push gate evidence TEST_EVIDENCE to ${repository}`);
    const offlineRun = taskRunOf(join(root, 'run-offline'), 'test');
    expect(offlineRun?.status.results ?? []).to.deep.equal([]);

    const r = await runVouch([...args, '--allow-network', 'test'], { env, timeoutMs: 170_000 });
    expect(r.code, r.stderr).to.equal(0);
    const trustedRoot = await runVouch(['log', 'trusted-root', '--data', tlog]);
    expect(trustedRoot.code, trustedRoot.stderr).to.equal(0);
    writeFileSync(join(root, 'trusted_root.json'), trustedRoot.stdout);

    // the TaskRun's result names the manifest in the registry; its digest is the predicate file's own
    const taskRun = taskRunOf(join(root, 'run'), 'test');
    const claim = taskRun?.status.results?.find((x) => x.name === 'TEST_EVIDENCE')?.value as { uri: string; digest: string };
    const file = join(source, '.vouch', 'reports', 'test', 'test-result.json');
    expect(claim.digest).to.equal(`sha256:${sha256(readFileSync(file))}`);
    const loc = parseEvidenceUri(claim.uri);
    expect(`${loc.registry}/${loc.repository}`).to.equal(repository);
    const client = new RegistryClient({ registry: registry.host });
    expect((await client.getBlob('vouch-evidence', claim.digest.slice(7))).equals(readFileSync(file))).to.equal(true);

    const imageDigest = sha256(readFileSync(join(source, 'README')));
    const statements = await verifiedStoredStatements(store, imageDigest, root, 2);
    expect([...statements.keys()].sort()).to.deep.equal([SLSA_PROVENANCE_V1, TEST_RESULT_V01].sort());
    const provenance = statements.get(SLSA_PROVENANCE_V1)!;
    expect(statements.get(TEST_RESULT_V01)!.subject).to.deep.equal(provenance.subject).and.deep.equal([{ name: 'registry.example/app', digest: { sha256: imageDigest } }]);
    expect(statements.get(TEST_RESULT_V01)!.predicate).to.deep.equal(JSON.parse(readFileSync(file, 'utf8')));
    const byproducts = (provenance.predicate as { runDetails: { byproducts: { name: string; uri?: string; annotations?: unknown }[] } }).runDetails.byproducts.filter((b) => b.annotations);
    expect(byproducts).to.deep.equal([{ name: 'test/TEST_EVIDENCE', uri: claim.uri, digest: { sha256: claim.digest.slice(7) }, annotations: { predicateType: TEST_RESULT_V01 } }]);
  });
});
