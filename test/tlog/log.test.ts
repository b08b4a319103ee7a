import { expect } from 'chai';
import { appendFileSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError } from '../../src/common/errors.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { verifyLogEntry, verifyConsistencyHex } from '../../src/tlog/verify.ts';
import { encodeRecord } from '../../src/tlog/storage.ts';
import { tempDir } from '../helpers/tmp.ts';
import { dsseEntry, hex64, intotoEntry, quiet, statement, testKey } from './helpers.ts';

describe('tlog: EmbeddedLog in-process', function () {
  this.timeout(30_000);
  const key = testKey();

  it('logs dsse and intoto entries; every answer verifies (SET, inclusion proof, checkpoint) with the log key', async () => {
    const log = await EmbeddedLog.open(tempDir('vouch-tlog-'));
    try {
      const a = await log.submit(dsseEntry(key, statement(hex64(1))));
      const b = await log.submit(intotoEntry(key, statement(hex64(2))));
      expect([a.status, b.status]).to.deep.equal([201, 201]);
      expect([a.entry.logIndex, b.entry.logIndex]).to.deep.equal([0, 1]);
      for (const r of [a, b]) verifyLogEntry(r.entry, { publicKey: log.publicKey, name: log.name, origin: log.origin, uuid: r.uuid });
      const fetched = log.getByUuid(a.uuid)!;
      expect(fetched.verification.inclusionProof.treeSize).to.equal(2);
      verifyLogEntry(fetched, { publicKey: log.publicKey, name: log.name, uuid: fetched.entryId });
      expect(log.getByUuid(a.entry.entryId)!.logIndex).to.equal(0);
      expect(log.getByUuid(`0000000000000000${a.uuid}`)).to.equal(undefined); // another tree
      expect(log.getByIndex(1)!.uuid).to.equal(b.uuid);
      expect(log.getByIndex(2)).to.equal(undefined);
      expect(log.info()).to.include({ treeSize: 2, treeID: log.treeId });
      expect(log.info().signedTreeHead).to.match(new RegExp(`^${log.origin.replace(/[.]/g, '\\.')}\\n2\\n`));
    } finally {
      await log.close();
    }
  });

  it('a modified SET, checkpoint, body or proof does not verify', async () => {
    const log = await EmbeddedLog.open(tempDir('vouch-tlog-'));
    try {
      for (let i = 0; i < 5; i++) await log.submit(dsseEntry(key, statement(hex64(100 + i))));
      const e = log.getByIndex(2)!;
      const opts = { publicKey: log.publicKey, name: log.name };
      verifyLogEntry(e, opts);
      const bad = (mutate: (c: typeof e) => void): void => {
        const c = structuredClone(e);
        mutate(c);
        expect(() => verifyLogEntry(c, opts)).to.throw(VouchError).with.property('code', 'PROOF_INVALID');
      };
      const flipB64 = (s: string): string => {
        const b = Buffer.from(s, 'base64');
        b[b.length - 3]! ^= 1;
        return b.toString('base64');
      };
      bad((c) => (c.verification.signedEntryTimestamp = flipB64(c.verification.signedEntryTimestamp)));
      bad((c) => (c.integratedTime += 1));
      bad((c) => (c.logIndex = 3));
      bad((c) => (c.body = Buffer.from(Buffer.from(c.body, 'base64').toString().replace('0.0.1', '0.0.9')).toString('base64')));
      bad((c) => (c.verification.inclusionProof.hashes[0] = hex64(5)));
      bad((c) => (c.verification.inclusionProof.checkpoint = c.verification.inclusionProof.checkpoint.replace('\n5\n', '\n4\n')));
      bad((c) => {
        const cp = c.verification.inclusionProof.checkpoint;
        const sig = cp.slice(cp.lastIndexOf(' ') + 1, -1);
        c.verification.inclusionProof.checkpoint = cp.replace(sig, flipB64(sig));
      });
      expect(() => verifyLogEntry(e, { ...opts, name: 'someone-else' })).to.throw(VouchError);
      expect(() => verifyLogEntry(e, { publicKey: testKey().publicKey })).to.throw(/logID/);
    } finally {
      await log.close();
    }
  });

  it('answers 409 with the existing entry for a duplicate, also when both arrive concurrently', async () => {
    const log = await EmbeddedLog.open(tempDir('vouch-tlog-'));
    try {
      const entry = dsseEntry(key, statement(hex64(7)));
      const [x, y] = await Promise.all([log.submit(entry), log.submit(structuredClone(entry))]);
      expect([x.status, y.status].sort()).to.deep.equal([201, 409]);
      expect(x.entry.logIndex).to.equal(y.entry.logIndex);
      const z = await log.submit(entry);
      expect(z.status).to.equal(409);
      expect(z.uuid).to.equal(x.uuid);
      expect(log.size).to.equal(1);
    } finally {
      await log.close();
    }
  });

  it('group commit: 300 concurrent submissions all land, in distinct indices, each verifiable', async () => {
    const log = await EmbeddedLog.open(tempDir('vouch-tlog-'));
    try {
      const entries = Array.from({ length: 300 }, (_, i) => dsseEntry(key, statement(hex64(1000 + i), i)));
      const results = await Promise.all(entries.map((e) => log.submit(e)));
      expect(new Set(results.map((r) => r.entry.logIndex)).size).to.equal(300);
      expect(log.size).to.equal(300);
      for (const r of results.filter((_, i) => i % 37 === 0)) verifyLogEntry(r.entry, { publicKey: log.publicKey, name: log.name });
      // an early answer's checkpoint is consistent with the final tree
      const early = results[0]!.entry.verification.inclusionProof;
      const p = log.consistencyProof(early.treeSize, log.size);
      expect(verifyConsistencyHex(early.treeSize, early.rootHash, log.size, log.info().rootHash, p.hashes)).to.equal(true);
    } finally {
      await log.close();
    }
  });

  it('restart keeps the key, logID, name, tree and indexes; integratedTime never goes backwards', async () => {
    const dir = tempDir('vouch-tlog-');
    let clock = Date.UTC(2030, 0, 1);
    const log = await EmbeddedLog.open(dir, { name: 'tlog.example', now: () => clock });
    await log.submit(dsseEntry(key, statement(hex64(11))));
    clock -= 3_600_000; // the clock steps back an hour
    const second = await log.submit(dsseEntry(key, statement(hex64(12))));
    expect(second.entry.integratedTime).to.equal(Math.floor(Date.UTC(2030, 0, 1) / 1000));
    const before = { logId: log.logId, info: log.info(), pem: log.publicKeyPem };
    await log.close();
    expect(statSync(join(dir, 'log.key')).mode & 0o777).to.equal(0o600);

    clock -= 86_400_000; // and a day more, across the restart
    const again = await EmbeddedLog.open(dir, { now: () => clock });
    try {
      expect(again.logId).to.equal(before.logId);
      expect(again.publicKeyPem).to.equal(before.pem);
      expect(again.name).to.equal('tlog.example');
      expect(again.info().rootHash).to.equal(before.info.rootHash);
      const third = await again.submit(dsseEntry(key, statement(hex64(13))));
      expect(third.entry.integratedTime).to.be.at.least(second.entry.integratedTime);
      expect(again.searchIndex({ hash: `sha256:${hex64(12)}` })).to.deep.equal([second.entry.entryId]);
      expect(again.searchIndex({ hash: hex64(11) })).to.have.length(1);
      expect(again.searchIndex({ publicKey: { format: 'x509', content: Buffer.from(key.pem).toString('base64') } })).to.have.length(3);
      expect(again.searchIndex({ hash: `sha256:${hex64(12)}`, publicKey: { format: 'x509', content: Buffer.from(key.pem).toString('base64') }, operator: 'and' })).to.have.length(1);
      expect(again.searchIndex({ hash: `sha256:${hex64(99)}` })).to.deep.equal([]);
    } finally {
      await again.close();
    }
    await expect(EmbeddedLog.open(dir, { name: 'renamed' })).to.be.rejectedWithCode('USAGE');
  });

  it('a second open of the same directory is refused while the first holds it', async () => {
    const dir = tempDir('vouch-tlog-');
    const log = await EmbeddedLog.open(dir);
    try {
      await expect(EmbeddedLog.open(dir)).to.be.rejectedWithCode('TLOG_UNAVAILABLE');
    } finally {
      await log.close();
    }
    await (await EmbeddedLog.open(dir)).close();
  });

  it('truncates a torn tail (garbage, a partial record, a record with a bad checksum) and recovers exactly', async () => {
    const dir = tempDir('vouch-tlog-');
    const log = await EmbeddedLog.open(dir);
    for (let i = 0; i < 20; i++) await log.submit(intotoEntry(key, statement(hex64(200 + i))));
    const info = log.info();
    await log.close();
    const file = join(dir, 'entries.log');
    const good = readFileSync(file);
    const record = encodeRecord({ integratedTime: 1, body: Buffer.from('{"x":1}'), indexKeys: [] });
    const corruptCrc = Buffer.from(record);
    corruptCrc[corruptCrc.length - 1]! ^= 1;
    for (const tail of [Buffer.from('garbage!'), record.subarray(0, record.length - 3), record.subarray(0, 5), corruptCrc]) {
      appendFileSync(file, tail);
      const again = await EmbeddedLog.open(dir, { logger: quiet });
      try {
        expect(again.info().rootHash).to.equal(info.rootHash);
        expect(again.size).to.equal(20);
        expect(readFileSync(file).equals(good)).to.equal(true);
      } finally {
        await again.close();
      }
    }
    // and it goes on appending after a recovery
    appendFileSync(file, Buffer.from('torn'));
    const after = await EmbeddedLog.open(dir, { logger: quiet });
    try {
      const r = await after.submit(intotoEntry(key, statement(hex64(300))));
      expect(r.entry.logIndex).to.equal(20);
      const p = after.consistencyProof(20, 21);
      expect(verifyConsistencyHex(20, info.rootHash, 21, after.info().rootHash, p.hashes)).to.equal(true);
    } finally {
      await after.close();
    }
  });

  it('refuses to open a file with more unreadable bytes than a torn write can leave (damage, not a crash)', async () => {
    const dir = tempDir('vouch-tlog-');
    const log = await EmbeddedLog.open(dir);
    await log.submit(dsseEntry(key, statement(hex64(400))));
    await log.close();
    const file = join(dir, 'entries.log');
    truncateSync(file, statSync(file).size + 80 * 1024 * 1024); // sparse zeros
    await expect(EmbeddedLog.open(dir)).to.be.rejectedWithCode('TLOG_CORRUPT');
  });

  it('rejects bad input without changing anything', async () => {
    const log = await EmbeddedLog.open(tempDir('vouch-tlog-'));
    try {
      await log.submit(dsseEntry(key, statement(hex64(500))));
      const before = log.info().rootHash;
      for (const bad of [null, {}, { kind: 'dsse' }, { kind: 'dsse', apiVersion: '0.0.1', spec: { proposedContent: { envelope: '{}', verifiers: [] } } }]) {
        await expect(log.submit(bad)).to.be.rejectedWithCode('TLOG_ENTRY_INVALID');
      }
      expect(log.info().rootHash).to.equal(before);
      expect(() => log.consistencyProof(2, 1)).to.throw(/firstSize\(2\) must be less than lastSize\(1\)/);
      expect(() => log.consistencyProof(1, 5)).to.throw(/greater than what is currently observable/);
    } finally {
      await log.close();
    }
  });
});

// a small chai helper: await expect(promise).to.be.rejectedWithCode('CODE')
declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Chai {
    interface Assertion {
      rejectedWithCode(code: string): Promise<void>;
    }
  }
}
import * as chai from 'chai';
chai.use((c) => {
  c.Assertion.addMethod('rejectedWithCode', async function (this: Chai.AssertionStatic, code: string) {
    const p = this._obj as Promise<unknown>;
    try {
      await p;
    } catch (err) {
      new c.Assertion(err).to.be.instanceOf(VouchError).with.property('code', code);
      return;
    }
    throw new c.AssertionError(`expected a rejection with ${code}`);
  });
});
