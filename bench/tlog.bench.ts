// The transparency log's numbers, each next to the raw rate of what bounds it on this machine:
//   durable appends/s with group commit (goal >= 10,000/s)  vs  raw write+fdatasync/s of the same disk
//   inclusion proof time at 10^6 entries (goal <= 1 ms)
//   raw ECDSA P-256 sign/s and verify/s (each logged entry costs one verify of its envelope and one SET signature)
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import { keyId } from '../src/attest/keys.ts';
import { signEnvelope, IN_TOTO_PAYLOAD_TYPE } from '../src/attest/dsse.ts';
import { EmbeddedLog } from '../src/tlog/log.ts';
import { MerkleTree, verifyInclusion } from '../src/tlog/merkle.ts';
import { encodeRecord, LogStorage } from '../src/tlog/storage.ts';
import { proposeDsse } from '../src/tlog/entries.ts';
import { rate, rawEcdsaRates, rawFsyncRate, type Report } from './harness.ts';

const G = 'tlog';

export default async function (report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-tlog-'));
  try {
    report.row(G, 'raw write+fdatasync', await rawFsyncRate(dir, 1500), 'ops/s', 'the disk: one durable write each, no batching');
    const raw = await rawEcdsaRates();
    report.row(G, 'raw ECDSA P-256 sign', raw.sign, 'ops/s');
    report.row(G, 'raw ECDSA P-256 verify', raw.verify, 'ops/s');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const publicKey = createPublicKey(privateKey);

    // storage alone: durable appends of ready records with group commit (many appends share one write + fdatasync)
    {
      const sdir = join(dir, 'storage');
      const { storage } = await LogStorage.open(sdir, () => undefined);
      const record = encodeRecord({ integratedTime: 1, body: randomBytes(700), indexKeys: ['sha256:' + 'ab'.repeat(32)] });
      const total = 100_000;
      const batch = 500;
      const t0 = performance.now();
      for (let i = 0; i < total; i += batch) await storage.appendBatch(Array.from({ length: batch }, () => record));
      const perSec = (total * 1000) / (performance.now() - t0);
      await storage.close();
      report.row(G, 'durable appends (storage, group commit)', perSec, 'appends/s', 'goal >= 10,000/s; records of ~750 B, 500 per fdatasync');
    }

    // the whole log: submit() of signed dsse entries (verify the envelope, canonicalize, group-commit, SET, proof)
    {
      const keyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const id = keyId(publicKey);
      const n = 20_000;
      const proposed = Array.from({ length: n }, (_, i) => {
        const payload = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', subject: [{ name: `a${i}`, digest: { sha256: randomBytes(32).toString('hex') } }], predicateType: 'https://example.com/p', predicate: {} }));
        return proposeDsse(JSON.stringify(signEnvelope(payload, IN_TOTO_PAYLOAD_TYPE, privateKey, id)), keyPem);
      });
      const log = await EmbeddedLog.open(join(dir, 'log'), { logger: pino({ level: 'silent' }) });
      const inFlight = 512;
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          while (next < n) await log.submit(proposed[next++]);
        }),
      );
      const perSec = (n * 1000) / (performance.now() - t0);
      await log.close();
      report.row(G, 'durable appends (EmbeddedLog.submit, end to end)', perSec, 'entries/s', 'verify envelope + SET sign + fsync per batch; bound by one ECDSA verify + sign each');
    }

    // inclusion proofs at 10^6 entries
    {
      const tree = new MerkleTree();
      const leaves = randomBytes(32 * 1_000_000);
      const t0 = performance.now();
      for (let i = 0; i < 1_000_000; i++) tree.appendLeafHash(leaves.subarray(i * 32, i * 32 + 32));
      report.row(G, 'build tree of 10^6 leaf hashes', performance.now() - t0, 'ms');
      const root = tree.root();
      const size = tree.size;
      let i = 0;
      const perSec = await rate(() => tree.inclusionProof((i = (i + 7919) % size)), 1000);
      report.row(G, 'inclusion proof at 10^6 entries', 1000 / perSec, 'ms/proof', 'goal <= 1 ms');
      const proofs = Array.from({ length: 200 }, (_, k) => ((k + 1) * 4999) % size);
      const okAll = proofs.every((m) => verifyInclusion(m, size, tree.leafHash(m), tree.inclusionProof(m), root));
      if (!okAll) throw new Error('inclusion proof failed to verify');
      const cPerSec = await rate(() => tree.consistencyProof(1 + ((i = (i + 104729) % (size - 1))), size), 500);
      report.row(G, 'consistency proof at 10^6 entries', 1000 / cPerSec, 'ms/proof');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
