import type { KeyObject } from 'node:crypto';
import { dsse } from '@sigstore/core';
import { VouchError } from '../common/errors.ts';
import { signBytes, verifyBytes } from './keys.ts';

// DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1.0). The PAE comes from @sigstore/core so
// that what we sign is byte for byte what sigstore-js verifies.

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export interface DsseSignature {
  keyid: string;
  /** base64 */
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 */
  payload: string;
  signatures: DsseSignature[];
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  return dsse.preAuthEncoding(payloadType, payload);
}

export function signEnvelope(payload: Buffer, payloadType: string, key: KeyObject, keyid: string): DsseEnvelope {
  const sig = signBytes(key, preAuthEncoding(payloadType, payload));
  return { payloadType, payload: payload.toString('base64'), signatures: [{ keyid, sig: sig.toString('base64') }] };
}

/** Checks the shape of an untrusted envelope (from a request, a file, a bundle) and returns it typed. */
export function parseEnvelope(value: unknown, source: string): DsseEnvelope {
  const bad = (why: string): never => {
    throw new VouchError('INPUT_INVALID', `${source}: not a DSSE envelope: ${why}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('expected a JSON object');
  const env = value as Record<string, unknown>;
  if (typeof env['payloadType'] !== 'string' || env['payloadType'] === '') return bad('payloadType must be a non-empty string');
  if (typeof env['payload'] !== 'string' || !BASE64.test(env['payload'])) return bad('payload must be base64');
  if (!Array.isArray(env['signatures']) || env['signatures'].length === 0) return bad('signatures must be a non-empty array');
  const signatures = env['signatures'].map((s: unknown, i): DsseSignature => {
    if (typeof s !== 'object' || s === null) return bad(`signatures[${i}] must be an object`);
    const { keyid, sig } = s as Record<string, unknown>;
    if (typeof sig !== 'string' || sig === '' || !BASE64.test(sig)) return bad(`signatures[${i}].sig must be non-empty base64`);
    if (keyid !== undefined && typeof keyid !== 'string') return bad(`signatures[${i}].keyid must be a string`);
    return { keyid: keyid ?? '', sig };
  });
  return { payloadType: env['payloadType'], payload: env['payload'], signatures };
}

export function envelopePayload(envelope: DsseEnvelope): Buffer {
  return Buffer.from(envelope.payload, 'base64');
}

/** True when at least one signature of the envelope verifies with `key` over the PAE. */
export function verifyEnvelope(envelope: DsseEnvelope, key: KeyObject): boolean {
  const pae = preAuthEncoding(envelope.payloadType, envelopePayload(envelope));
  return envelope.signatures.some((s) => verifyBytes(key, pae, Buffer.from(s.sig, 'base64')));
}
