// The policy room spells the predicate types it judges (it may not import attest); they must be attest's, letter for
// letter, or admission would look for evidence under a type no stage or sidecar ever writes.
import { expect } from 'chai';
import * as predicates from '../../src/attest/predicates.ts';
import { PREDICATES } from '../../src/policy/admission.ts';
import { SLSA_PROVENANCE_V1 } from '../../src/policy/provenance-view.ts';

describe('policy: predicate types agree with src/attest/predicates.ts', () => {
  it('every type admission reads is the one attest writes', () => {
    expect(PREDICATES).to.deep.equal({
      provenance: predicates.SLSA_PROVENANCE_V1,
      'test-result': predicates.TEST_RESULT_V01,
      sbom: predicates.CYCLONEDX_BOM,
      vulns: predicates.VULNS_V01,
      vsa: predicates.SLSA_VSA_V1,
      'agent-run': predicates.AGENT_RUN_V01,
      'risk-assessment': predicates.RISK_ASSESSMENT_V01,
      approval: predicates.APPROVAL_V01,
    });
    expect(SLSA_PROVENANCE_V1).to.equal(predicates.SLSA_PROVENANCE_V1);
  });

  it('every gate evidence type a stage may hand over is one admission knows', () => {
    const known = new Set<string>(Object.values(PREDICATES));
    for (const t of predicates.EVIDENCE_PREDICATE_TYPES) expect(known.has(t), t).to.equal(true);
  });
});
