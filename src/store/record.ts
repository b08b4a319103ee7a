import { createHash } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import { VouchError } from '../common/errors.ts';
import { isSha256Hex } from '../common/digest.ts';
import type { AttestationRecord, LogEntryRef } from './types.ts';

// Checks shared by every backend: a record is refused before anything is written unless its bundle really is a DSSE
// bundle whose in-toto statement names the subject digest and predicateType the record claims. Names that become
// file names, tags or annotation keys are restricted so that no input can escape its place (path traversal).

const RUN_UID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkSha256Hex(value: unknown, what = 'subject digest'): string {
  if (!isSha256Hex(value)) {
    const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value) : typeof value;
    throw new VouchError('STORE_INPUT_INVALID', `${what} must be 64 lowercase hex digits (no "sha256:" prefix), got ${shown}`);
  }
  return value;
}

export function checkRunUid(value: unknown): string {
  if (typeof value !== 'string' || !RUN_UID.test(value) || value.includes('..')) {
    throw new VouchError('STORE_INPUT_INVALID', `run uid must be 1-128 of [A-Za-z0-9._-] starting with a letter or digit, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A file-name-safe, collision-free name for a predicateType: readable part plus a hash of the full URI. */
export function predicateSlug(predicateType: string): string {
  const readable = predicateType
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/[^A-Za-z0-9.]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 60);
  const hash = createHash('sha256').update(predicateType).digest('hex').slice(0, 12);
  return `${readable || 'predicate'}-${hash}`;
}

export interface StatementFacts {
  predicateType: string;
  subjects: { name: string; sha256: string | undefined }[];
}

/** Decodes the in-toto statement inside a bundle's DSSE envelope (not verified here: verification is attest's job). */
export function statementOf(bundle: SerializedBundle, what = 'bundle'): StatementFacts {
  const env = (bundle as { dsseEnvelope?: { payload?: unknown; payloadType?: unknown } }).dsseEnvelope;
  if (typeof env?.payload !== 'string') throw new VouchError('STORE_INPUT_INVALID', `${what} has no DSSE envelope (a Sigstore bundle v0.3 with dsseEnvelope is required)`);
  let statement: unknown;
  try {
    statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8'));
  } catch {
    throw new VouchError('STORE_INPUT_INVALID', `${what}: the DSSE payload is not base64 JSON`);
  }
  const st = statement as { predicateType?: unknown; subject?: unknown };
  if (typeof st.predicateType !== 'string' || !Array.isArray(st.subject)) {
    throw new VouchError('STORE_INPUT_INVALID', `${what}: the DSSE payload is not an in-toto statement (predicateType and subject needed)`);
  }
  const subjects = (st.subject as unknown[]).map((s) => {
    const o = (s ?? {}) as { name?: unknown; digest?: { sha256?: unknown } };
    return { name: typeof o.name === 'string' ? o.name : '', sha256: typeof o.digest?.sha256 === 'string' ? o.digest.sha256 : undefined };
  });
  return { predicateType: st.predicateType, subjects };
}

function checkLogEntry(e: LogEntryRef): void {
  if (!Number.isSafeInteger(e.logIndex) || e.logIndex < 0) throw new VouchError('STORE_INPUT_INVALID', `logEntry.logIndex must be a non-negative integer, got ${JSON.stringify(e.logIndex)}`);
  if (typeof e.uuid !== 'string' || !/^[0-9a-f]{1,160}$/i.test(e.uuid)) throw new VouchError('STORE_INPUT_INVALID', `logEntry.uuid must be hex, got ${JSON.stringify(e.uuid)}`);
  if (typeof e.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(e.url)) throw new VouchError('STORE_INPUT_INVALID', `logEntry.url must be an http(s) URL, got ${JSON.stringify(e.url)}`);
}

/** Validates a record before any backend writes it; returns the decoded statement facts. */
export function checkRecord(record: AttestationRecord): StatementFacts {
  if (record === null || typeof record !== 'object') throw new VouchError('STORE_INPUT_INVALID', 'an attestation record must be an object');
  const subject = record.subject as { name?: unknown; sha256?: unknown } | undefined;
  if (typeof subject?.name !== 'string') throw new VouchError('STORE_INPUT_INVALID', 'record.subject.name must be a string');
  checkSha256Hex(subject.sha256);
  if (typeof record.predicateType !== 'string' || record.predicateType === '' || record.predicateType.length > 512) {
    throw new VouchError('STORE_INPUT_INVALID', 'record.predicateType must be a non-empty string of at most 512 characters');
  }
  checkRunUid(record.runUid);
  if (record.logEntry !== undefined) checkLogEntry(record.logEntry);
  const facts = statementOf(record.bundle, 'record.bundle');
  if (facts.predicateType !== record.predicateType) {
    throw new VouchError('STORE_INPUT_INVALID', `record.predicateType ${JSON.stringify(record.predicateType)} differs from the signed statement's ${JSON.stringify(facts.predicateType)}`);
  }
  if (!facts.subjects.some((s) => s.sha256 === record.subject.sha256)) {
    throw new VouchError('STORE_INPUT_INVALID', `the signed statement has no subject with sha256 ${record.subject.sha256}: refusing to file it under that digest`);
  }
  return facts;
}
