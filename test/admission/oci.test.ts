import { expect } from 'chai';
import { rmSync } from 'node:fs';
import { AdmissionEngine } from '../../src/admission/engine.ts';
import { parseAdmissionPolicies } from '../../src/policy/admission.ts';
import { OciStore } from '../../src/store/oci.ts';
import { pushTestImage, requireRegistryBinary, TestRegistry } from '../store/registry-harness.ts';
import { tempDir } from '../helpers/tmp.ts';
import { makeWorld, policyYaml, putEvidence, type World } from './helpers.ts';

// Admission against a real OCI registry (Debian docker-registry on loopback): the tag is resolved to its digest
// through the registry, and the attestations are read from the cosign `sha256-<hex>.att` manifest next to the image.

describe('admission: a real OCI registry (tag resolution, cosign .att attestations)', function () {
  this.timeout(60_000);
  let w: World;
  let dir: string;
  const registry = new TestRegistry();
  before(async () => {
    requireRegistryBinary();
    dir = tempDir('vouch-admission-oci-');
    w = await makeWorld(dir);
    await registry.start();
  });
  after(async () => {
    await registry.stop();
    registry.cleanup();
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves the tag, finds the .att evidence, admits; another tag of the same repository without evidence is denied', async () => {
    const good = await pushTestImage(registry.host, 'acme/app', 'v1');
    const bare = await pushTestImage(registry.host, 'acme/app', 'v2');
    const repo = `${registry.host}/acme/app`;
    const store = new OciStore({ retries: 0 });
    await putEvidence(w, { digest: good.digest, store, repo });
    const engine = new AdmissionEngine({ policies: parseAdmissionPolicies(policyYaml(w, '', "['**']"), 'p.yaml'), stores: [store], approvalDirs: [w.approvalsDir], trustedRoot: w.trustedRoot });
    const v1 = await engine.judgeImage(`${repo}:v1`, { namespace: 'prod' });
    expect(v1.reasons, v1.reasons.join('\n')).to.deep.equal([]);
    expect(v1.allowed).to.equal(true);
    expect(v1.digest).to.equal(good.digest);
    const v2 = await engine.judgeImage(`${repo}:v2`, { namespace: 'prod' });
    expect(v2.digest).to.equal(bare.digest);
    expect(v2.allowed).to.equal(false);
    expect(v2.reasons[0]).to.match(/^signature\.verified: no attestation for sha256:/);
    const missing = await engine.judgeImage(`${repo}:nope`, { namespace: 'prod' });
    expect(missing.reasons[0]).to.match(/^image\.digest: .*does not exist/);
  });
});
