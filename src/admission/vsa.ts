// Statements the admission room signs: the SLSA Verification Summary Attestation of a verdict
// (https://slsa.dev/spec/v1.0/verification_summary, predicateType https://slsa.dev/verification_summary/v1) and the
// record of a break-glass admission, which is logged before the object is admitted.

import type { KeyObject } from 'node:crypto';
import type { Witness } from '@sigstore/sign';
import { signStatement, type SignedStatement } from '../attest/sign.ts';
import { buildStatement, type Statement } from '../attest/statement.ts';
import { sha256Hex } from '../common/digest.ts';
import { VouchError } from '../common/errors.ts';
import { PREDICATES } from '../policy/admission.ts';
import type { ImageVerdict } from './engine.ts';
import type { BreakGlassRecord } from './webhook.ts';

export const VERIFIER_ID = 'https://vouch.dev/verifier/v0.1';
export const BREAK_GLASS_PREDICATE = 'https://vouch.dev/attestation/break-glass/v0.1';

/** The VSA v1 predicate, field names as the spec has them. */
export interface VsaPredicate {
  verifier: { id: string; version: Record<string, string> };
  timeVerified: string;
  resourceUri: string;
  policy: { uri: string; digest: { sha256: string } };
  inputAttestations: { uri: string; digest: { sha256: string } }[];
  verificationResult: 'PASSED' | 'FAILED';
  verifiedLevels: string[];
  slsaVersion: string;
}

export function vsaStatement(verdict: ImageVerdict, policy: { uri: string; sha256: string }, now: Date = new Date()): Statement<VsaPredicate> {
  if (verdict.digest === '') throw new VouchError('INPUT_INVALID', `${verdict.image}: no digest, so no verification summary can name it`);
  const passed = verdict.allowed;
  return buildStatement({
    subjects: [{ name: verdict.repository, sha256: verdict.digest }],
    predicateType: PREDICATES.vsa,
    predicate: {
      verifier: { id: VERIFIER_ID, version: { vouch: '0.1.0' } },
      timeVerified: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      resourceUri: `${verdict.repository}@sha256:${verdict.digest}`,
      policy: { uri: policy.uri, digest: { sha256: policy.sha256 } },
      inputAttestations: verdict.inputs,
      verificationResult: passed ? 'PASSED' : 'FAILED',
      // signed provenance from a hosted build platform whose signing key the builder cannot reach: SLSA Build L2
      verifiedLevels: passed ? ['SLSA_BUILD_LEVEL_2'] : [],
      slsaVersion: '1.0',
    },
  });
}

export async function signVsa(verdict: ImageVerdict, policy: { uri: string; sha256: string }, signer: { privateKey: KeyObject; witness: Witness; logTrustedRoot?: unknown }): Promise<SignedStatement> {
  return signStatement({ statement: vsaStatement(verdict, policy), privateKey: signer.privateKey, witness: signer.witness, ...(signer.logTrustedRoot !== undefined ? { logTrustedRoot: signer.logTrustedRoot } : {}) });
}

/** A break-glass statement: subjects are the denied images that have a digest, plus the review itself. */
export function breakGlassStatement(record: BreakGlassRecord, now: Date = new Date()): Statement {
  const subjects = record.images.filter((i) => i.digest !== '').map((i) => ({ name: i.image.replace(/[@:][^/]*$/, ''), sha256: i.digest }));
  subjects.push({ name: `admission-review/${record.uid}`, sha256: sha256Hex(JSON.stringify(record)) });
  return buildStatement({ subjects, predicateType: BREAK_GLASS_PREDICATE, predicate: { ...record, timestamp: now.toISOString() } });
}

export function breakGlassLogger(signer: { privateKey: KeyObject; witness: Witness }): (record: BreakGlassRecord) => Promise<{ logIndex: string; url: string }> {
  return async (record) => {
    const signed = await signStatement({ statement: breakGlassStatement(record), privateKey: signer.privateKey, witness: signer.witness });
    const e = signed.bundle.verificationMaterial.tlogEntries[0];
    if (!e) throw new VouchError('TLOG_REJECTED', 'the break-glass statement was not logged');
    return { logIndex: e.logIndex, url: '' };
  };
}
