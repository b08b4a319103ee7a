import { expect } from 'chai';
import { APPROVAL_V01 } from '../../src/attest/predicates.ts';
import { readApprovalEnvelope, signApproval, validateApprovalStatement, verifyApproval, type ApprovalPredicate } from '../../src/attest/approval.ts';
import { generateKeyPair, keyId, parsePrivateKey, publicKeyOf } from '../../src/attest/keys.ts';
import { isVouchError } from '../../src/common/errors.ts';

const alice = parsePrivateKey(generateKeyPair().privateKeyPem, 'alice');
const bob = parsePrivateKey(generateKeyPair().privateKeyPem, 'bob');
const HEAD = '0123456789abcdef0123456789abcdef01234567';

const predicate = (more: Partial<ApprovalPredicate> = {}): ApprovalPredicate => ({
  decision: 'approve',
  reviewer: { id: 'alice@example.com' },
  repository: 'https://git.example/acme/shop.git',
  pullRequest: '7',
  headCommit: HEAD,
  pipelineRun: 'ci/run-1',
  riskAssessment: { digest: { sha256: 'a'.repeat(64) }, tier: 'high' },
  timestamp: '2026-11-24T16:00:00Z',
  ...more,
});

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isVouchError(err, 'STATEMENT_INVALID')) return err.message;
    throw err;
  }
  throw new Error('expected STATEMENT_INVALID');
}

describe('attest: approval statements (src/attest/approval.ts)', () => {
  it('signs an in-toto v1 statement about the head commit with the reviewer key; reads and verifies it back', () => {
    const { statement, envelope } = signApproval(predicate({ comment: 'ok' }), alice);
    expect(statement.subject).to.deep.equal([{ name: 'https://git.example/acme/shop.git', digest: { gitCommit: HEAD } }]);
    expect(statement.predicateType).to.equal(APPROVAL_V01);
    expect(statement.predicate!.reviewer).to.deep.equal({ id: 'alice@example.com', keyid: keyId(alice) });
    const read = readApprovalEnvelope(JSON.parse(JSON.stringify(envelope)), 'posted');
    expect(read.statement).to.deep.equal(statement);
    expect(verifyApproval(read.envelope, publicKeyOf(alice))).to.equal(true);
    expect(verifyApproval(read.envelope, publicKeyOf(bob)), 'another key').to.equal(false);
    const tampered = { ...envelope, payload: Buffer.from(Buffer.from(envelope.payload, 'base64').toString().replace('"approve"', '"reject"')).toString('base64') };
    expect(verifyApproval(readApprovalEnvelope(tampered, 'tampered').envelope, publicKeyOf(alice))).to.equal(false);
  });

  it('refuses malformed predicates field by field', () => {
    expect(invalid(() => signApproval(predicate({ decision: 'maybe' as 'approve' }), alice))).to.match(/predicate\.decision/);
    expect(invalid(() => signApproval(predicate({ headCommit: 'main' }), alice))).to.match(/predicate\.headCommit: must be a full commit id/);
    expect(invalid(() => signApproval(predicate({ pipelineRun: 'run-1' }), alice))).to.match(/predicate\.pipelineRun/);
    expect(invalid(() => signApproval(predicate({ pullRequest: '#7' }), alice))).to.match(/predicate\.pullRequest/);
    expect(invalid(() => signApproval(predicate({ riskAssessment: { digest: { sha256: 'xyz' }, tier: 'high' } }), alice))).to.match(/riskAssessment\.digest\.sha256/);
    expect(invalid(() => signApproval(predicate({ timestamp: 'yesterday' }), alice))).to.match(/predicate\.timestamp/);
    expect(invalid(() => signApproval(predicate({ comment: 'x'.repeat(5000) }), alice))).to.match(/predicate\.comment/);
  });

  it('refuses a statement whose subject is not exactly the head commit, or of another predicate type', () => {
    const { statement } = signApproval(predicate(), alice);
    expect(invalid(() => validateApprovalStatement({ ...statement, subject: [{ name: statement.subject[0]!.name, digest: { gitCommit: 'f'.repeat(40) } }] }, 's'))).to.match(/subject must be exactly the head commit/);
    expect(invalid(() => validateApprovalStatement({ ...statement, subject: [...statement.subject, { name: 'x', digest: { sha256: 'b'.repeat(64) } }] }, 's'))).to.match(/subject must be exactly/);
    expect(invalid(() => validateApprovalStatement({ ...statement, predicateType: 'https://slsa.dev/provenance/v1' }, 's'))).to.match(/not https:\/\/vouch\.dev\/attestation\/approval\/v0\.1/);
    const { envelope } = signApproval(predicate(), alice);
    expect(invalid(() => readApprovalEnvelope({ ...envelope, signatures: [...envelope.signatures, ...envelope.signatures] }, 'two'))).to.match(/exactly one signature/);
  });
});
