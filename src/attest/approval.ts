import type { KeyObject } from 'node:crypto';
import { VouchError } from '../common/errors.ts';
import { IN_TOTO_PAYLOAD_TYPE, envelopePayload, parseEnvelope, preAuthEncoding, verifyEnvelope, type DsseEnvelope } from './dsse.ts';
import { keyId, signBytes } from './keys.ts';
import { APPROVAL_V01 } from './predicates.ts';
import { STATEMENT_TYPE_V1, parseStatement, statementBytes, validateStatement, type Statement } from './statement.ts';

// The human approval statement (docs/predicates.md, CONTRACTS.md): an in-toto Statement v1 about the head commit of
// a change, `https://vouch.dev/attestation/approval/v0.1`, signed with the REVIEWER's own key (DSSE), not the
// sidecar's. It binds the decision to the repository, the pull request, the exact head commit, the PipelineRun and
// the digest of the risk assessment the reviewer saw, so it cannot be replayed onto another push or assessment.


export interface ApprovalPredicate {
  decision: 'approve' | 'reject';
  reviewer: { id: string; keyid?: string };
  repository: string;
  /** the pull request number, or "" */
  pullRequest: string;
  headCommit: string;
  /** "<namespace>/<name>" */
  pipelineRun: string;
  riskAssessment: { digest: { sha256: string }; tier: 'low' | 'medium' | 'high' };
  comment?: string;
  /** RFC 3339 */
  timestamp: string;
}

export type ApprovalStatement = Statement<ApprovalPredicate>;

const COMMIT = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
const RUN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;
const MAX_COMMENT = 4096;

/** Checks an untrusted approval predicate field by field; returns it typed. */
export function validateApprovalPredicate(value: unknown, source: string): ApprovalPredicate {
  const bad = (path: string, why: string): never => {
    throw new VouchError('STATEMENT_INVALID', `${source}: predicate.${path}: ${why}`, { details: { path } });
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('', 'must be an object');
  const p = value as Record<string, unknown>;
  const str = (k: string): string => (typeof p[k] === 'string' ? (p[k]) : bad(k, 'must be a string'));
  const decision = str('decision');
  if (decision !== 'approve' && decision !== 'reject') bad('decision', 'must be "approve" or "reject"');
  const reviewer = p['reviewer'] as Record<string, unknown> | undefined;
  if (typeof reviewer !== 'object' || reviewer === null || typeof reviewer['id'] !== 'string' || reviewer['id'] === '') bad('reviewer.id', 'must be a non-empty string');
  if (reviewer?.['keyid'] !== undefined && (typeof reviewer['keyid'] !== 'string' || !/^[0-9a-f]{64}$/.test(reviewer['keyid']))) bad('reviewer.keyid', 'must be 64 hex digits');
  const repository = str('repository');
  if (repository === '') bad('repository', 'must not be empty');
  const pullRequest = str('pullRequest');
  if (pullRequest !== '' && !/^[0-9]{1,12}$/.test(pullRequest)) bad('pullRequest', 'must be a number or empty');
  const headCommit = str('headCommit');
  if (!COMMIT.test(headCommit)) bad('headCommit', 'must be a full commit id (40 or 64 lowercase hex digits)');
  const pipelineRun = str('pipelineRun');
  if (!RUN.test(pipelineRun)) bad('pipelineRun', 'must be "<namespace>/<name>"');
  const ra = p['riskAssessment'] as { digest?: { sha256?: unknown }; tier?: unknown } | undefined;
  if (typeof ra?.digest?.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(ra.digest.sha256)) bad('riskAssessment.digest.sha256', 'must be 64 lowercase hex digits');
  if (ra?.tier !== 'low' && ra?.tier !== 'medium' && ra?.tier !== 'high') bad('riskAssessment.tier', 'must be low, medium or high');
  if (p['comment'] !== undefined && (typeof p['comment'] !== 'string' || p['comment'].length > MAX_COMMENT)) bad('comment', `must be a string of at most ${String(MAX_COMMENT)} characters`);
  const timestamp = str('timestamp');
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(timestamp) || Number.isNaN(Date.parse(timestamp))) bad('timestamp', 'must be an RFC 3339 time');
  return value as ApprovalPredicate;
}

/** Checks an untrusted approval statement: in-toto v1, the approval predicate type, subject = the head commit. */
export function validateApprovalStatement(value: unknown, source: string): ApprovalStatement {
  const st = validateStatement(value, source, { requireName: true, versions: [STATEMENT_TYPE_V1] });
  if (st.predicateType !== APPROVAL_V01) throw new VouchError('STATEMENT_INVALID', `${source}: predicateType is ${JSON.stringify(st.predicateType)}, not ${APPROVAL_V01}`);
  const predicate = validateApprovalPredicate(st.predicate, source);
  const s = st.subject;
  if (s.length !== 1 || s[0]!.digest?.['gitCommit'] !== predicate.headCommit || s[0]!.name !== predicate.repository) {
    throw new VouchError('STATEMENT_INVALID', `${source}: the subject must be exactly the head commit {name: repository, digest: {gitCommit: headCommit}}`);
  }
  return st as unknown as ApprovalStatement;
}

/** Builds and signs an approval statement with the reviewer's private key: a DSSE envelope (not logged yet). */
export function signApproval(predicate: ApprovalPredicate, privateKey: KeyObject): { statement: ApprovalStatement; envelope: DsseEnvelope } {
  if (privateKey.type !== 'private') throw new VouchError('KEY_INVALID', 'signing an approval needs the reviewer\'s private key');
  // the predicate first: its errors name the field the caller gave (not the subject built from it)
  validateApprovalPredicate(predicate, 'approval');
  const statement: ApprovalStatement = {
    _type: STATEMENT_TYPE_V1,
    subject: [{ name: predicate.repository, digest: { gitCommit: predicate.headCommit } }],
    predicateType: APPROVAL_V01,
    predicate: { ...predicate, reviewer: { ...predicate.reviewer, keyid: keyId(privateKey) } },
  };
  validateApprovalStatement(statement, 'approval');
  const payload = statementBytes(statement as unknown as Statement);
  const sig = signBytes(privateKey, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload));
  return { statement, envelope: { payloadType: IN_TOTO_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keyId(privateKey), sig: sig.toString('base64') }] } };
}

/** Reads an untrusted envelope as an approval: shape, payload type, statement; the signature is checked by `verifyApproval`. */
export function readApprovalEnvelope(value: unknown, source: string): { envelope: DsseEnvelope; statement: ApprovalStatement } {
  const envelope = parseEnvelope(value, source);
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) throw new VouchError('STATEMENT_INVALID', `${source}: payloadType must be ${IN_TOTO_PAYLOAD_TYPE}`);
  if (envelope.signatures.length !== 1) throw new VouchError('STATEMENT_INVALID', `${source}: an approval carries exactly one signature (its reviewer's)`);
  const statement = validateApprovalStatement(parseStatement(envelopePayload(envelope), source, { versions: [STATEMENT_TYPE_V1] }), source);
  return { envelope, statement };
}

/** True when the envelope's signature verifies with `publicKey` over the DSSE PAE. */
export function verifyApproval(envelope: DsseEnvelope, publicKey: KeyObject): boolean {
  return verifyEnvelope(envelope, publicKey);
}
