// vouch osv sync against a local HTTP server on loopback serving osv.dev's export layout (<Ecosystem>/all.zip).
import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { isVouchError } from '../../src/common/errors.ts';
import { syncEcosystem } from '../../src/stages/sca/sync.ts';
import { loadOsvDatabase } from '../../src/stages/sca/osv.ts';
import { runVouch, SHARED } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

const FIXTURES = join(SHARED, 'fixtures', 'osv', 'npm');

describe('vouch osv sync', function () {
  this.timeout(30_000);
  const tmp = tempDirPerSuite('vouch-osv-sync-');
  const served = new Map<string, Uint8Array>();
  let server: Server;
  let base = '';

  before(async () => {
    server = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(body.length) }).end(Buffer.from(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  });

  const realZip = (): Uint8Array => zipSync(Object.fromEntries(readdirSync(FIXTURES).map((f) => [f, new Uint8Array(readFileSync(join(FIXTURES, f)))])));

  /** a database directory that already holds one (old) npm record */
  function existingDb(name: string): string {
    const dir = join(tmp(), name);
    mkdirSync(join(dir, 'npm'), { recursive: true });
    writeFileSync(join(dir, 'npm', 'OLD-1.json'), JSON.stringify({ id: 'OLD-1', modified: '2020-01-01T00:00:00Z', affected: [] }));
    return dir;
  }

  async function refusal(p: Promise<unknown>): Promise<unknown> {
    try {
      await p;
    } catch (err) {
      return err;
    }
    return undefined;
  }

  it('downloads, checks and swaps in the records; the scan then reads them', async () => {
    served.set('/npm/all.zip', realZip());
    const dir = existingDb('ok');
    const r = await syncEcosystem(dir, 'npm', { baseUrl: base });
    expect(r).to.include({ ecosystem: 'npm', records: 2, newestModified: '2022-02-08T22:04:28Z' });
    expect(readdirSync(join(dir, 'npm')).sort()).to.deep.equal(['GHSA-35jh-r3h4-6jhm.json', 'GHSA-p6mc-m468-83gw.json']);
    expect(readdirSync(dir)).to.deep.equal(['npm']);
    expect(loadOsvDatabase(dir).index.get('npm')?.get('lodash')).to.have.length(2);
  });

  for (const [what, body, code, match] of [
    ['a truncated download', (z: Uint8Array) => z.subarray(0, z.length - 40), 'OSV_DATABASE_UNAVAILABLE', /not a readable zip/],
    ['a malformed record', () => zipSync({ 'GOOD.json': new Uint8Array(readFileSync(join(FIXTURES, 'GHSA-35jh-r3h4-6jhm.json'))), 'BAD-1.json': new TextEncoder().encode('{"id":"BAD-1"}') }), 'OSV_RECORD_INVALID', /all\.zip!BAD-1\.json/],
    ['an entry with a path', () => zipSync({ '../evil.json': new TextEncoder().encode('{}') }), 'OSV_RECORD_INVALID', /unexpected entry name/],
  ] as const) {
    it(`${what}: refused, the database left as it was`, async () => {
      served.set('/npm/all.zip', body(realZip()));
      const dir = existingDb(what.replace(/\W+/g, '-'));
      const err = await refusal(syncEcosystem(dir, 'npm', { baseUrl: base }));
      expect(isVouchError(err, code), String(err)).to.equal(true);
      expect((err as Error).message).to.match(match);
      expect(readdirSync(dir)).to.deep.equal(['npm']);
      expect(readdirSync(join(dir, 'npm'))).to.deep.equal(['OLD-1.json']);
    });
  }

  it('an ecosystem the server does not have: unavailable, exit 3 from the CLI', async () => {
    const dir = existingDb('missing');
    const err = await refusal(syncEcosystem(dir, 'PyPI', { baseUrl: base }));
    expect(isVouchError(err, 'OSV_DATABASE_UNAVAILABLE')).to.equal(true);
    expect((err as Error).message).to.include('HTTP 404');
    const cli = await runVouch(['osv', 'sync', '--dir', dir, '--ecosystem', 'PyPI', '--url', base]);
    expect(cli.code).to.equal(3);
    expect(readdirSync(dir)).to.deep.equal(['npm']);
  });

  it('the CLI prints what it synced', async () => {
    served.set('/npm/all.zip', realZip());
    const dir = join(tmp(), 'cli');
    const r = await runVouch(['osv', 'sync', '--dir', dir, '--url', base]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.include('npm: 2 records, newest modified 2022-02-08T22:04:28Z');
  });
});
