import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { LogWitness } from '../../src/tlog/witness.ts';
import { signStatement } from '../../src/attest/sign.ts';
import { buildStatement } from '../../src/attest/statement.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { tempDir } from '../helpers/tmp.ts';
import { rmSync } from 'node:fs';
import { pino } from 'pino';

// Real signed bundles for store tests: statements DSSE-signed with a fresh P-256 key and logged in an embedded log.

export interface Signer {
  key: KeyObject;
  log: EmbeddedLog;
  record(input: { name: string; sha256: string; predicateType?: string; runUid?: string; predicate?: object }): Promise<AttestationRecord>;
  close(): Promise<void>;
}

export async function newSigner(): Promise<Signer> {
  const dir = tempDir('vouch-store-log-');
  const log = await EmbeddedLog.open(dir, { logger: pino({ level: 'silent' }) });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const witness = new LogWitness((p) => log.submit(p), 'dsse');
  return {
    key: privateKey,
    log,
    async record({ name, sha256, predicateType = 'https://slsa.dev/provenance/v1', runUid = 'a1b2c3d4-0000-4000-8000-000000000001', predicate = { n: 1 } }) {
      const statement = buildStatement({ subjects: [{ name, sha256 }], predicateType, predicate });
      const signed = await signStatement({ statement, privateKey, witness });
      const logIndex = Number(signed.json.verificationMaterial.tlogEntries[0]?.logIndex ?? 0);
      return { subject: { name, sha256 }, predicateType, runUid, bundle: signed.json, logEntry: { logIndex, uuid: 'ab'.repeat(32), url: 'http://127.0.0.1:1' } };
    },
    async close() {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function hex(i: number): string {
  return i.toString(16).padStart(64, '0');
}
