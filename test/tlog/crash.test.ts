// Crash test: `vouch log serve` takes concurrent submissions over HTTP and is killed with SIGKILL at random moments,
// several rounds over one data directory. Afterwards every acknowledged entry (a 201/409 the client received) is in
// the log with a valid proof, and the final tree is consistent with every checkpoint ever handed out.
import { expect } from 'chai';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { oneEntry } from '../../src/tlog/client.ts';
import { parseCheckpointBody, parseSignedNote } from '../../src/tlog/signed.ts';
import { verifyConsistencyHex, verifyLogEntry } from '../../src/tlog/verify.ts';
import type { LogEntry } from '../../src/tlog/types.ts';
import { startVouchServer } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { dsseEntry, hex64, quiet, statement, testKey } from './helpers.ts';

const ROUNDS = 5;
const PER_ROUND = 1500;
const CONCURRENCY = 48;

async function startServer(dir: string): Promise<{ url: string; kill: () => Promise<void> }> {
  const { url, proc: child } = await startVouchServer(['log', 'serve', '--data', dir, '--listen', '127.0.0.1:0']);
  return {
    url,
    kill: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => { resolve(); });
        child.kill('SIGKILL');
      }),
  };
}

describe('tlog: crash safety (SIGKILL under load)', function () {
  this.timeout(180_000);

  it(`${ROUNDS} rounds of kill -9 at random moments lose no acknowledged entry and fork no checkpoint`, async () => {
    const dir = tempDir('vouch-tlog-crash-');
    const key = testKey();
    const acked = new Map<string, LogEntry>();
    const checkpoints: string[] = [];
    let n = 0;
    let attempted = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const entries = Array.from({ length: PER_ROUND }, () => dsseEntry(key, statement(hex64(++n), n)));
      const server = await startServer(dir);
      let next = 0;
      let stop = false;
      const worker = async (): Promise<void> => {
        while (!stop && next < entries.length) {
          const body = JSON.stringify(entries[next++]);
          attempted++;
          try {
            const res = await fetch(`${server.url}/api/v1/log/entries`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
            if (res.status === 201) {
              const entry = oneEntry(await res.json());
              acked.set(entry.uuid, entry);
              checkpoints.push(entry.verification.inclusionProof.checkpoint);
            } else await res.arrayBuffer();
          } catch {
            // the server died under us: not acknowledged
          }
        }
      };
      const workers = Array.from({ length: CONCURRENCY }, () => worker());
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 600));
      await server.kill();
      stop = true;
      await Promise.all(workers);
    }
    expect(acked.size, 'some entries were acknowledged').to.be.greaterThan(50);

    const log = await EmbeddedLog.open(dir, { logger: quiet });
    try {
      const opts = { publicKey: log.publicKey, name: log.name, origin: log.origin };
      for (const [uuid, ack] of acked) {
        const now = log.getByUuid(uuid);
        expect(now, `acknowledged entry ${ack.logIndex} is present`).to.not.equal(undefined);
        expect(now!.logIndex).to.equal(ack.logIndex);
        expect(now!.body).to.equal(ack.body);
        expect(now!.integratedTime).to.equal(ack.integratedTime);
        verifyLogEntry(now!, opts);
      }
      const info = log.info();
      let consistencyChecks = 0;
      for (const text of new Set(checkpoints)) {
        const cp = parseCheckpointBody(parseSignedNote(text)!.body)!;
        expect(cp.size).to.be.at.most(info.treeSize);
        const proof = log.consistencyProof(cp.size, info.treeSize);
        expect(verifyConsistencyHex(cp.size, cp.rootHash.toString('hex'), info.treeSize, info.rootHash, proof.hashes), `checkpoint of size ${cp.size}`).to.equal(true);
        consistencyChecks++;
      }
      expect(consistencyChecks).to.be.greaterThan(0);
      // log indices are dense: the tree holds exactly the entries that reached disk, in order
      expect(info.treeSize).to.be.at.least(acked.size);
      expect(info.treeSize).to.be.at.most(attempted);
    } finally {
      await log.close();
    }
  });
});
