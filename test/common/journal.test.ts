import { appendFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { frameRecord, Journal, type JournalOptions } from '../../src/common/journal.ts';
import { tempDir } from '../helpers/tmp.ts';

const MAGIC = Buffer.from('vouch-test j v1\n', 'latin1');

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

async function openAll(opts: JournalOptions): Promise<{ journal: Journal; payloads: string[]; truncated: number }> {
  const payloads: string[] = [];
  const { journal, replay } = await Journal.open(opts, (p) => {
    payloads.push(p.toString('utf8'));
    return true;
  });
  return { journal, payloads, truncated: replay.truncatedBytes };
}

describe('common/journal: durable append-only records', () => {
  let dir: string;
  let opts: JournalOptions;
  beforeEach(() => {
    dir = tempDir('vouch-journal-');
    opts = { dir, file: 'j.log', magic: MAGIC, what: 'the test journal', maxBatchBytes: 4096, maxRecordBytes: 1024 };
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('concurrent appends share writes (group commit) and replay in order after reopening', async () => {
    const { journal } = await openAll(opts);
    const offsets = await Promise.all(Array.from({ length: 500 }, (_, i) => journal.append(Buffer.from(`record ${i}`))));
    expect(new Set(offsets).size).to.equal(500);
    expect(journal.batches).to.be.lessThan(50);
    expect(offsets).to.deep.equal([...offsets].sort((a, b) => a - b));
    expect(journal.read(offsets[7]!).toString()).to.equal('record 7');
    await journal.close();
    const again = await openAll(opts);
    expect(again.payloads).to.deep.equal(Array.from({ length: 500 }, (_, i) => `record ${i}`));
    await again.journal.close();
  });

  it('cuts a torn tail (partial record, bad checksum) and goes on appending', async () => {
    const { journal } = await openAll(opts);
    for (let i = 0; i < 3; i++) await journal.append(Buffer.from(`r${i}`));
    await journal.close();
    const file = join(dir, 'j.log');
    const good = readFileSync(file);
    const rec = frameRecord(Buffer.from('torn record'));
    const badCrc = Buffer.from(rec);
    badCrc[badCrc.length - 1]! ^= 1;
    for (const tail of [rec.subarray(0, rec.length - 2), rec.subarray(0, 3), badCrc]) {
      appendFileSync(file, tail);
      const again = await openAll(opts);
      expect(again.payloads).to.deep.equal(['r0', 'r1', 'r2']);
      expect(again.truncated).to.equal(tail.length);
      expect(readFileSync(file).equals(good)).to.equal(true);
      await again.journal.close();
    }
    const after = await openAll(opts);
    await after.journal.append(Buffer.from('r3'));
    await after.journal.close();
    expect((await openAll(opts)).payloads).to.deep.equal(['r0', 'r1', 'r2', 'r3']);
  });

  it('a payload the decoder rejects stops replay there, like a torn write', async () => {
    const { journal } = await openAll(opts);
    for (const p of ['ok1', 'BAD', 'ok2']) await journal.append(Buffer.from(p));
    await journal.close();
    const seen: string[] = [];
    const { journal: j2, replay } = await Journal.open(opts, (p) => {
      if (p.toString() === 'BAD') return false;
      seen.push(p.toString());
      return true;
    });
    expect(seen).to.deep.equal(['ok1']);
    expect(replay.truncatedBytes).to.be.greaterThan(0);
    await j2.close();
  });

  it('refuses damage larger than a torn write could leave, a foreign file, and a second open', async () => {
    const { journal } = await openAll(opts);
    await journal.append(Buffer.from('x'));
    const busy = await rejection(Journal.open(opts, () => true));
    expect(busy.code).to.equal('JOURNAL_UNAVAILABLE');
    expect(busy.message).to.match(/already open/);
    await journal.close();
    const file = join(dir, 'j.log');
    appendFileSync(file, Buffer.alloc(4096 + 1024 + 1, 0xff));
    const size = statSync(file).size;
    const damaged = await rejection(Journal.open(opts, () => true));
    expect(damaged.code).to.equal('JOURNAL_CORRUPT');
    expect(damaged.message).to.match(/damaged/);
    expect(statSync(file).size).to.equal(size);
    writeFileSync(file, 'not a journal at all');
    expect((await rejection(Journal.open(opts, () => true))).message).to.match(/bad header/);
  });

  it('after close, appends are refused', async () => {
    const { journal } = await openAll(opts);
    await journal.close();
    expect((await rejection(journal.append(Buffer.from('late')))).message).to.match(/closed/);
  });
});
