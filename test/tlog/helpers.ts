import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { signEnvelope, IN_TOTO_PAYLOAD_TYPE, type DsseEnvelope } from '../../src/attest/dsse.ts';
import { keyId } from '../../src/attest/keys.ts';
import { proposeDsse, proposeIntoto } from '../../src/tlog/entries.ts';

export interface TestKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  pem: string;
  id: string;
}

export function testKey(): TestKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKey = createPublicKey(privateKey);
  return { privateKey, publicKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), id: keyId(publicKey) };
}

export function statement(subjectHex: string, n = 0): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: `artifact-${n}`, digest: { sha256: subjectHex } }],
      predicateType: 'https://example.com/test/v1',
      predicate: { n },
    }),
  );
}

export function envelope(key: TestKey, payload: Buffer): DsseEnvelope {
  return signEnvelope(payload, IN_TOTO_PAYLOAD_TYPE, key.privateKey, key.id);
}

export function dsseEntry(key: TestKey, payload: Buffer): Record<string, unknown> {
  return proposeDsse(JSON.stringify(envelope(key, payload)), key.pem);
}

export function intotoEntry(key: TestKey, payload: Buffer): Record<string, unknown> {
  return proposeIntoto(envelope(key, payload), key.pem);
}

export function hex64(i: number): string {
  return i.toString(16).padStart(64, '0');
}

import { pino } from 'pino';
/** A logger that says nothing (tests that provoke warnings on purpose). */
export const quiet = pino({ level: 'silent' });
