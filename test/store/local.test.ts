import { expect } from 'chai';
import { readdirSync, readFileSync, writeFileSync, rmSync, existsSync, symlinkSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LocalStore } from '../../src/store/local.ts';
import { isVouchError } from '../../src/common/errors.ts';
import type { AttestationRecord } from '../../src/store/types.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { hex, newSigner, type Signer } from './helpers.ts';

async function rejects(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(isVouchError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal(code);
    if (pattern) expect((err as Error).message).to.match(pattern);
    return err as Error;
  }
  throw new Error(`expected a ${code} error`);
}

describe('store: local directory', () => {
  const dir = tempDirPerSuite('vouch-store-local-');
  let signer: Signer;
  let provenance: AttestationRecord;
  let testResult: AttestationRecord;
  before(async () => {
    signer = await newSigner();
    provenance = await signer.record({ name: 'registry.example/app', sha256: hex(1) });
    testResult = await signer.record({ name: 'registry.example/app', sha256: hex(1), predicateType: 'https://in-toto.io/attestation/test-result/v0.1', predicate: { result: 'PASSED' } });
  });
  after(async () => signer.close());

  it('stores a bundle under <dir>/<hex>/ as the exact Sigstore bundle JSON, and lists it back with its facts', async () => {
    const store = new LocalStore(join(dir(), 'a'));
    const loc = await store.put(provenance);
    expect(loc.kind).to.equal('local');
    expect(loc.ref.startsWith(join(dir(), 'a', hex(1)) + '/')).to.equal(true);
    expect(loc.ref).to.match(/slsa\.dev-provenance-v1-[0-9a-f]{12}-a1b2c3d4-0000-4000-8000-000000000001\.sigstore\.json$/);
    expect(JSON.parse(readFileSync(loc.ref, 'utf8'))).to.deep.equal(provenance.bundle);
    await store.put(testResult);
    const listed = await store.list(hex(1));
    expect(listed).to.have.length(2);
    expect(listed[0]).to.deep.equal(provenance);
    expect(listed[1]).to.deep.equal(testResult);
    expect(await store.list(hex(2))).to.deep.equal([]);
    // no temp files are left behind
    expect(readdirSync(join(dir(), 'a', hex(1))).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
  });

  it('put is idempotent: the same (digest, predicateType, run uid) is stored once, even when re-signed', async () => {
    const store = new LocalStore(join(dir(), 'b'));
    const first = await store.put(provenance);
    const resigned = await signer.record({ name: 'registry.example/app', sha256: hex(1), predicate: { n: 1 } });
    expect(resigned.bundle).to.not.deep.equal(provenance.bundle);
    const again = await store.put(resigned);
    expect(again).to.deep.equal(first);
    const listed = await store.list(hex(1));
    expect(listed).to.have.length(1);
    expect(listed[0]!.bundle).to.deep.equal(provenance.bundle);
    // concurrent puts of one record: one file, no error
    const c = new LocalStore(join(dir(), 'c'));
    const results = await Promise.all(Array.from({ length: 8 }, () => c.put(testResult)));
    expect(new Set(results.map((r) => r.ref)).size).to.equal(1);
    expect(await c.list(hex(1))).to.have.length(1);
  });

  it('a different run uid is a different record', async () => {
    const store = new LocalStore(join(dir(), 'd'));
    await store.put(provenance);
    await store.put({ ...provenance, runUid: 'other-run' });
    expect((await store.list(hex(1))).map((r) => r.runUid).sort()).to.deep.equal(['a1b2c3d4-0000-4000-8000-000000000001', 'other-run']);
  });

  it('refuses a digest that is not 64 lowercase hex, before touching the disk', async () => {
    const root = join(dir(), 'e');
    const store = new LocalStore(root);
    for (const bad of ['sha256:' + hex(1), hex(0xabc).toUpperCase(), '../../etc', hex(1).slice(1), '', `${hex(1)}/..`]) {
      await rejects(store.list(bad), 'STORE_INPUT_INVALID', /64 lowercase hex/);
      await rejects(store.put({ ...provenance, subject: { name: 'x', sha256: bad } }), 'STORE_INPUT_INVALID');
    }
    expect(existsSync(root)).to.equal(false);
  });

  it('refuses path traversal and odd characters in the run uid', async () => {
    const root = join(dir(), 'f');
    const store = new LocalStore(root);
    for (const bad of ['../x', '..', 'a/b', 'a\\b', '.hidden', 'a..b', 'x'.repeat(200), '', 'a\0b']) {
      await rejects(store.put({ ...provenance, runUid: bad }), 'STORE_INPUT_INVALID', /run uid/);
    }
    expect(existsSync(root)).to.equal(false);
  });

  it('refuses a record whose signed statement does not name its digest or predicateType', async () => {
    const store = new LocalStore(join(dir(), 'g'));
    await rejects(store.put({ ...provenance, subject: { name: 'x', sha256: hex(9) } }), 'STORE_INPUT_INVALID', /no subject with sha256/);
    await rejects(store.put({ ...provenance, predicateType: 'https://example.com/other' }), 'STORE_INPUT_INVALID', /differs from the signed statement/);
    const noEnvelope = { ...provenance, bundle: { ...provenance.bundle, dsseEnvelope: undefined } } as unknown as AttestationRecord;
    await rejects(store.put(noEnvelope), 'STORE_INPUT_INVALID', /no DSSE envelope/);
    const garbage = { ...provenance, bundle: { ...provenance.bundle, dsseEnvelope: { payload: '!!!not base64 json', payloadType: 'x', signatures: [] } } } as unknown as AttestationRecord;
    await rejects(store.put(garbage), 'STORE_INPUT_INVALID', /not base64 JSON/);
    await rejects(store.put({ ...provenance, logEntry: { logIndex: -1, uuid: 'ab', url: 'http://x' } }), 'STORE_INPUT_INVALID', /logIndex/);
    expect(await store.list(hex(1))).to.deep.equal([]);
  });

  it('a truncated or tampered file is reported as STORE_CORRUPT, not silently skipped', async () => {
    const store = new LocalStore(join(dir(), 'h'));
    const loc = await store.put(provenance);
    const text = readFileSync(loc.ref, 'utf8');
    writeFileSync(loc.ref, text.slice(0, text.length / 2));
    await rejects(store.list(hex(1)), 'STORE_CORRUPT', /not valid JSON/);
    // a bundle replaced by another: its meta file is not there
    const other = await signer.record({ name: 'x', sha256: hex(3) });
    writeFileSync(loc.ref, JSON.stringify(other.bundle));
    await rejects(store.list(hex(1)), 'STORE_CORRUPT', /no \.meta\.json for its content/);
    // a bundle for another digest moved under this one, with its meta
    const elsewhere = new LocalStore(join(dir(), 'h2'));
    const moved = await elsewhere.put(other);
    const movedMeta = readdirSync(join(dir(), 'h2', hex(3))).find((n) => n.endsWith('.meta.json'))!;
    rmSync(loc.ref);
    writeFileSync(join(dir(), 'h', hex(1), basename(moved.ref)), readFileSync(moved.ref));
    writeFileSync(join(dir(), 'h', hex(1), movedMeta), readFileSync(join(dir(), 'h2', hex(3), movedMeta)));
    await rejects(store.list(hex(1)), 'STORE_CORRUPT', /tampered/);
  });

  it('a crash between meta and bundle, then a retry that signed again: the listed log entry is the stored bundle\'s', async () => {
    const root = join(dir(), 'k');
    const store = new LocalStore(root);
    // first attempt: meta written, crash before the bundle (simulated by removing the bundle it wrote)
    const first = await store.put(provenance);
    rmSync(first.ref);
    const resigned = { ...(await signer.record({ name: 'registry.example/app', sha256: hex(1) })), logEntry: { logIndex: 999, uuid: 'ef'.repeat(32), url: 'http://127.0.0.1:1' } };
    await store.put(resigned);
    const listed = await store.list(hex(1));
    expect(listed).to.have.length(1);
    expect(listed[0]!.bundle).to.deep.equal(resigned.bundle);
    expect(listed[0]!.logEntry).to.deep.equal(resigned.logEntry);
    // two racing puts of one record with different bundles: one wins, the loser removes its meta, list is consistent
    for (let i = 0; i < 5; i++) {
      const race = new LocalStore(join(root, `race-${i}`));
      await Promise.all([race.put(provenance), race.put(resigned)]);
      expect(readdirSync(join(root, `race-${i}`, hex(1))).filter((n) => n.endsWith('.meta.json'))).to.have.length(1);
      const [won] = await race.list(hex(1));
      const winner = JSON.stringify(won!.bundle) === JSON.stringify(provenance.bundle) ? provenance : resigned;
      expect(won!.bundle).to.deep.equal(winner.bundle);
      expect(won!.logEntry).to.deep.equal(winner.logEntry);
    }
  });

  it('a meta file left by a crash before the bundle was written is ignored, and the retry completes', async () => {
    const root = join(dir(), 'i');
    const store = new LocalStore(root);
    const path = store.pathOf(hex(1), provenance.predicateType, provenance.runUid);
    mkdirSync(join(root, hex(1)), { recursive: true });
    writeFileSync(path.replace(/\.sigstore\.json$/, '.meta.json'), JSON.stringify({ subject: provenance.subject, predicateType: provenance.predicateType, runUid: provenance.runUid, storedAt: new Date().toISOString() }));
    writeFileSync(join(root, hex(1), '.x.sigstore.json.abc.tmp'), '{"partial":');
    expect(await store.list(hex(1))).to.deep.equal([]);
    await store.put(provenance);
    const listed = await store.list(hex(1));
    expect(listed).to.have.length(1);
    expect(listed[0]!.bundle).to.deep.equal(provenance.bundle);
  });

  it('an unwritable directory is STORE_UNAVAILABLE with the path', async () => {
    const root = join(dir(), 'j');
    writeFileSync(root, 'a file where the store directory should be');
    const store = new LocalStore(root);
    await rejects(store.put(provenance), 'STORE_UNAVAILABLE', new RegExp(root));
    rmSync(root);
    symlinkSync('/proc/nonexistent-vouch', root);
    await rejects(store.put(provenance), 'STORE_UNAVAILABLE');
  });
});
