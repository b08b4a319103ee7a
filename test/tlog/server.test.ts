// The Rekor v1 REST API, served in-process and by `vouch log serve` in a child process: round trips, 409 with
// Location, and every bad input answered in Rekor's error shape without changing the tree.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { VouchError } from '../../src/common/errors.ts';
import { RekorClient } from '../../src/tlog/client.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { serve } from '../../src/tlog/server.ts';
import { verifyCheckpoint } from '../../src/tlog/signed.ts';
import { verifyConsistencyHex, verifyLogEntry } from '../../src/tlog/verify.ts';
import { CLI, REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { dsseEntry, envelope, hex64, intotoEntry, quiet, statement, testKey } from './helpers.ts';
import { proposeDsse } from '../../src/tlog/entries.ts';
import type { LogEntryAnon } from '../../src/tlog/types.ts';

const MAX_BODY = 64 * 1024;

async function call(url: string, method: string, path: string, body?: string | object): Promise<{ status: number; json: unknown; headers: Headers; text: string }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, headers: res.headers, text };
}

/** The whole API, against a log served at `url`. */
function apiSuite(getUrl: () => string): void {
  const key = testKey();
  const client = (): RekorClient => new RekorClient(getUrl(), { timeoutMs: 5000 });

  it('POST entries: 201 with Location, ETag and one entry keyed by its 80-hex ID, which verifies with the served key', async () => {
    const url = getUrl();
    const res = await call(url, 'POST', '/api/v1/log/entries', dsseEntry(key, statement(hex64(1))));
    expect(res.status).to.equal(201);
    const pairs: [string, LogEntryAnon][] = Object.entries(res.json as Record<string, LogEntryAnon>);
    expect(pairs).to.have.length(1);
    const [id, anon] = pairs[0]!;
    expect(id).to.match(/^[0-9a-f]{80}$/);
    expect(res.headers.get('location')).to.equal(`/api/v1/log/entries/${id}`);
    expect(res.headers.get('etag')).to.equal(id);
    expect(Object.keys(anon)).to.deep.equal(['body', 'integratedTime', 'logID', 'logIndex', 'verification']);
    const pem = await client().publicKey();
    verifyLogEntry(anon, { publicKey: createPublicKey(pem), uuid: id });
  });

  it('POST the same entry again: 409, Rekor error body, Location of the existing entry; the client fetches it', async () => {
    const url = getUrl();
    const entry = intotoEntry(key, statement(hex64(2)));
    const first = await client().createEntry(entry);
    expect(first.status).to.equal(201);
    const res = await call(url, 'POST', '/api/v1/log/entries', entry);
    expect(res.status).to.equal(409);
    expect(res.json).to.deep.equal({ code: 409, message: `an equivalent entry already exists in the transparency log with UUID ${first.entry.entryId}` });
    expect(res.headers.get('location')).to.equal(`/api/v1/log/entries/${first.entry.entryId}`);
    const again = await client().createEntry(entry);
    expect(again.status).to.equal(409);
    expect(again.entry.logIndex).to.equal(first.entry.logIndex);
  });

  it('GET entries by 64-hex UUID, 80-hex entry ID and logIndex; retrieve; index search; log info; consistency proof', async () => {
    const url = getUrl();
    const c = client();
    const made = await c.createEntry(dsseEntry(key, statement(hex64(3))));
    const { entry } = made;
    expect((await c.getEntry(entry.uuid))!.body).to.equal(entry.body);
    expect((await c.getEntry(entry.entryId))!.logIndex).to.equal(entry.logIndex);
    expect((await c.getByIndex(entry.logIndex))!.uuid).to.equal(entry.uuid);
    const listed = await c.retrieve({ entryUUIDs: [entry.uuid], logIndexes: [0], entries: [dsseEntry(key, statement(hex64(404)))] });
    expect(listed.map((e) => e.logIndex)).to.deep.equal([entry.logIndex, 0]);
    expect(await c.searchIndex({ hash: `sha256:${hex64(3)}` })).to.deep.equal([entry.entryId]);
    expect(await c.searchIndex({ publicKey: { format: 'x509', content: Buffer.from(key.pem).toString('base64') } })).to.include(entry.entryId);
    const info = await c.logInfo();
    expect(info.treeSize).to.be.at.least(3);
    expect(info.treeID).to.match(/^[0-9]+$/);
    const pub = createPublicKey(await c.publicKey());
    const logId = Buffer.from(entry.logID, 'hex');
    const signer = /\n\u2014 (\S+) /.exec(info.signedTreeHead)![1]!;
    const cp = verifyCheckpoint(info.signedTreeHead, pub, logId, signer);
    expect(cp?.size).to.equal(info.treeSize);
    expect(cp?.rootHash.toString('hex')).to.equal(info.rootHash);
    const proof = await c.consistencyProof(1, info.treeSize);
    const first = (await c.getByIndex(0))!;
    const root1 = (await call(url, 'GET', '/api/v1/log/proof?firstSize=1&lastSize=1')).json as { rootHash: string; hashes: string[] };
    expect(root1.hashes).to.deep.equal([]);
    expect(verifyConsistencyHex(1, root1.rootHash, info.treeSize, proof.rootHash, proof.hashes)).to.equal(true);
    expect(first.logIndex).to.equal(0);
    expect((await call(url, 'GET', '/healthz')).json).to.deep.include({ status: 'ok' });
  });

  it('every bad input gets Rekor\'s status and {code, message}, and changes nothing', async () => {
    const url = getUrl();
    const before = ((await call(url, 'GET', '/api/v1/log')).json as { rootHash: string; treeSize: number });
    const good = dsseEntry(key, statement(hex64(50)));
    const badSig = (() => {
      const env = envelope(key, statement(hex64(51)));
      env.payload = Buffer.from(statement(hex64(52))).toString('base64');
      return proposeDsse(JSON.stringify(env), key.pem);
    })();
    const cases: [string, string, string | object | undefined, number, number?][] = [
      ['malformed JSON', '/api/v1/log/entries', '{"kind": "dsse", ', 400],
      ['empty body', '/api/v1/log/entries', '', 422, 602],
      ['not an object', '/api/v1/log/entries', '[1,2]', 400],
      ['unknown kind', '/api/v1/log/entries', { ...good, kind: 'nonsense' }, 422, 422],
      ['kind this log does not take', '/api/v1/log/entries', { ...good, kind: 'hashedrekord' }, 400],
      ['wrong apiVersion', '/api/v1/log/entries', { ...good, apiVersion: '0.0.2' }, 400],
      ['bad envelope signature', '/api/v1/log/entries', badSig, 400],
      ['signature by another key', '/api/v1/log/entries', proposeDsse(JSON.stringify(envelope(key, statement(hex64(53)))), testKey().pem), 400],
      ['oversize body', '/api/v1/log/entries', { ...good, pad: 'x'.repeat(MAX_BODY) }, 413],
      ['retrieve: more than 10 queries', '/api/v1/log/entries/retrieve', { logIndexes: Array.from({ length: 11 }, (_, i) => i) }, 422],
      ['retrieve: invalid uuid', '/api/v1/log/entries/retrieve', { entryUUIDs: ['xyz'] }, 400],
      ['retrieve: malformed JSON', '/api/v1/log/entries/retrieve', '{', 400],
      ['index: malformed hash', '/api/v1/index/retrieve', { hash: 'sha256:abc' }, 422, 605],
      ['index: unknown PKI format', '/api/v1/index/retrieve', { publicKey: { format: 'pgp', content: 'AAAA' } }, 400],
    ];
    for (const [what, path, body, status, code] of cases) {
      const res = await call(url, 'POST', path, body);
      expect(res.status, what).to.equal(status);
      const j = res.json as { code: unknown; message: unknown };
      expect(j, what).to.have.keys('code', 'message');
      expect(j.code, what).to.equal(code ?? status);
      expect(j.message, what).to.be.a('string').and.not.equal('');
    }
    const gets: [string, string, number, number?][] = [
      ['unknown uuid', `/api/v1/log/entries/${hex64(77)}`, 404],
      ['unknown entry ID', `/api/v1/log/entries/${'0'.repeat(16)}${hex64(77)}`, 404],
      ['malformed uuid', '/api/v1/log/entries/nothex', 422, 605],
      ['logIndex missing', '/api/v1/log/entries', 422, 602],
      ['logIndex non-numeric', '/api/v1/log/entries?logIndex=abc', 422, 601],
      ['logIndex negative', '/api/v1/log/entries?logIndex=-1', 422, 609],
      ['logIndex beyond the tree', '/api/v1/log/entries?logIndex=999999', 404],
      ['proof: firstSize > lastSize', '/api/v1/log/proof?firstSize=3&lastSize=2', 400],
      ['proof: lastSize beyond the tree', '/api/v1/log/proof?firstSize=1&lastSize=999999', 400],
      ['proof: lastSize missing', '/api/v1/log/proof?firstSize=1', 422, 602],
      ['proof: non-numeric', '/api/v1/log/proof?firstSize=1&lastSize=two', 422, 601],
      ['proof: firstSize 0', '/api/v1/log/proof?firstSize=0&lastSize=1', 422, 609],
      ['unknown path', '/api/v1/nothing', 404],
      ['wrong method', '/api/v1/index/retrieve', 405],
    ];
    for (const [what, path, status, code] of gets) {
      const res = await call(url, 'GET', path);
      expect(res.status, what).to.equal(status);
      expect(res.json, what).to.deep.include({ code: code ?? status });
    }
    expect(((await call(url, 'GET', '/api/v1/log/proof?firstSize=3&lastSize=2')).json as { message: string }).message).to.equal('firstSize(3) must be less than lastSize(2)');
    const after = (await call(url, 'GET', '/api/v1/log')).json as { rootHash: string; treeSize: number };
    expect(after.treeSize).to.equal(before.treeSize);
    expect(after.rootHash).to.equal(before.rootHash);
  });

  it('the client reports rejections as TLOG_REJECTED with the HTTP status', async () => {
    try {
      await client().createEntry({ kind: 'dsse', apiVersion: '0.0.1', spec: {} });
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.be.instanceOf(VouchError).with.property('code', 'TLOG_REJECTED');
      expect((err as VouchError).details).to.include({ status: 400 });
    }
  });
}

describe('tlog: Rekor v1 HTTP API', function () {
  this.timeout(60_000);

  describe('in-process (serve())', () => {
    let log: EmbeddedLog;
    let close: () => Promise<void> = () => Promise.resolve();
    let url = '';
    before(async () => {
      log = await EmbeddedLog.open(tempDir('vouch-tlog-http-'), { logger: quiet });
      const running = await serve(log, '127.0.0.1', 0, { maxBodyBytes: MAX_BODY, logger: quiet });
      url = running.url;
      close = async () => {
        await running.close();
        await log.close();
      };
    });
    after(() => close());
    apiSuite(() => url);
  });

  describe('`vouch log serve` in a child process', () => {
    const dir = tempDir('vouch-tlog-cli-');
    let child: ChildProcess | undefined;
    let url = '';
    const start = async (): Promise<void> => {
      const c = spawn(process.execPath, [CLI, 'log', 'serve', '--data', dir, '--listen', '127.0.0.1:0', '--max-body', String(MAX_BODY)], {
        cwd: REPO_ROOT,
        env: { ...process.env, VOUCH_LOG_LEVEL: 'warn', VOUCH_LOG_FORMAT: 'json' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child = c;
      url = await new Promise<string>((resolve, reject) => {
        let out = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        c.once('exit', (code) => { reject(new Error(`vouch log serve exited ${code}: ${out}`)); });
      });
    };
    const stop = async (): Promise<number | null> => {
      const c = child!;
      const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => { resolve(code); }));
      c.kill('SIGTERM');
      return exited;
    };
    before(start);
    after(async () => {
      if (child && child.exitCode === null) await stop();
    });
    apiSuite(() => url);

    it('SIGTERM stops it with exit 0; a restart serves the same log; trusted-root names it', async () => {
      const info = (await call(url, 'GET', '/api/v1/log')).json as { rootHash: string; treeSize: number; treeID: string };
      expect(await stop()).to.equal(0);
      await start();
      const again = (await call(url, 'GET', '/api/v1/log')).json as typeof info;
      expect(again).to.deep.include({ rootHash: info.rootHash, treeSize: info.treeSize, treeID: info.treeID });
      const tr = await runVouch(['log', 'trusted-root', '--data', dir, '--url', url]);
      expect(tr.code, tr.stderr).to.equal(0);
      const root = JSON.parse(tr.stdout) as { mediaType: string; tlogs: { baseUrl: string; logId: { keyId: string }; publicKey: { keyDetails: string; validFor: { start: string } } }[] };
      expect(root.mediaType).to.equal('application/vnd.dev.sigstore.trustedroot+json;version=0.1');
      expect(root.tlogs[0]!.baseUrl).to.equal(url);
      expect(root.tlogs[0]!.publicKey.keyDetails).to.equal('PKIX_ECDSA_P256_SHA_256');
      const bad = await runVouch(['log', 'trusted-root', '--data', dir, '--url', 'http://example.com']);
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.match(/signs its checkpoints as "127.0.0.1"/);
      const help = await runVouch(['log', '--help']);
      expect(help.stdout).to.include('trusted-root').and.include('serve');
    });
  });
});
