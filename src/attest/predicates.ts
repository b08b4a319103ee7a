// The in-toto predicate types vouch signs or reads, in one place (CONTRACTS.md "Predicate types"). Stages name the
// type of the evidence they hand to the sidecar with these; the sidecar accepts evidence only of the types in
// EVIDENCE_PREDICATE_TYPES.

/** SLSA Provenance v1 (https://slsa.dev/spec/v1.0/provenance). */
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
/** in-toto test result predicate v0.1. */
export const TEST_RESULT_V01 = 'https://in-toto.io/attestation/test-result/v0.1';
/** CycloneDX SBOM, the predicate being the BOM itself (as cosign `--type cyclonedx` and in-toto name it). */
export const CYCLONEDX_BOM = 'https://cyclonedx.org/bom';
/** in-toto vulnerability scan predicate v0.1. */
export const VULNS_V01 = 'https://in-toto.io/attestation/vulns/v0.1';
/** SLSA Verification Summary Attestation v1. */
export const SLSA_VSA_V1 = 'https://slsa.dev/verification_summary/v1';
/** vouch: what an agent run did (docs/predicates.md). */
export const AGENT_RUN_V01 = 'https://vouch.dev/attestation/agent-run/v0.1';
/** vouch: the risk tier of a change and why (docs/predicates.md). */
export const RISK_ASSESSMENT_V01 = 'https://vouch.dev/attestation/risk-assessment/v0.1';
/** vouch: a reviewer's decision, signed with the reviewer's key (docs/predicates.md). */
export const APPROVAL_V01 = 'https://vouch.dev/attestation/approval/v0.1';

/**
 * Predicate types a stage may hand to the sidecar as gate evidence (`*_EVIDENCE` results), which the sidecar then
 * signs with its own key. Provenance and VSA are the sidecar's own statements, and an approval must carry the
 * reviewer's signature: a stage that could have the sidecar sign one of those could forge it, so they are not here.
 */
export const EVIDENCE_PREDICATE_TYPES: readonly string[] = [TEST_RESULT_V01, CYCLONEDX_BOM, VULNS_V01, AGENT_RUN_V01, RISK_ASSESSMENT_V01];

export function isEvidencePredicateType(value: string): boolean {
  return EVIDENCE_PREDICATE_TYPES.includes(value);
}

/**
 * The one result name under which each gate evidence type may arrive (`*_EVIDENCE`). A step that writes another
 * stage's result name, or a type under a name that is not its own (a test task's TEST_EVIDENCE claiming to be the
 * risk assessment), is refused by the sidecar: what a stage may ask the sidecar to sign is fixed by the stage.
 */
export const EVIDENCE_RESULTS: Readonly<Record<string, string>> = {
  TEST_EVIDENCE: TEST_RESULT_V01,
  SBOM_EVIDENCE: CYCLONEDX_BOM,
  VULNS_EVIDENCE: VULNS_V01,
  AGENT_RUN_EVIDENCE: AGENT_RUN_V01,
  RISK_EVIDENCE: RISK_ASSESSMENT_V01,
};
