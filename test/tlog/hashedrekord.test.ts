// Rekor's hashedrekord 0.0.1 kind (signatures over a digest: cosign image signatures, sigstore message signatures):
// canonical bodies reproduced from real public-good entries, strict rejection, and a stock sigstore-js
// MessageSignatureBundleBuilder bundle logged by `vouch log serve` that attest/verify.ts accepts.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleToJSON } from '@sigstore/bundle';
import { MessageSignatureBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { verifyBundle } from '../../src/attest/verify.ts';
import { VouchError } from '../../src/common/errors.ts';
import { canonicalizeProposedEntry, proposeHashedrekord } from '../../src/tlog/entries.ts';
import { CLI, REPO_ROOT, SHARED, runVouch } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';
import { testKey } from './helpers.ts';

const CONFORMANCE = join(SHARED, 'fixtures/sigstore-conformance/bundle-verify');

interface MessageBundleJSON {
  verificationMaterial: { tlogEntries: { canonicalizedBody: string }[]; certificate?: { rawBytes: string }; publicKey?: unknown };
  messageSignature: { messageDigest: { algorithm: string; digest: string }; signature: string };
}

function rejected(fn: () => unknown): { status: number; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(VouchError).with.property('code', 'TLOG_ENTRY_INVALID');
    return { status: ((err as VouchError).details as { status: number }).status, message: (err as Error).message };
  }
  return expect.fail('expected a rejection');
}

function certPem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function reproduce(dir: string, pem: (b: MessageBundleJSON) => string): void {
  const bundle = JSON.parse(readFileSync(join(CONFORMANCE, dir, 'bundle.sigstore.json'), 'utf8')) as MessageBundleJSON;
  const logged = Buffer.from(bundle.verificationMaterial.tlogEntries[0]!.canonicalizedBody, 'base64');
  const ms = bundle.messageSignature;
  const digestHex = Buffer.from(ms.messageDigest.digest, 'base64').toString('hex');
  const entry = canonicalizeProposedEntry(proposeHashedrekord(Buffer.from(ms.signature, 'base64'), pem(bundle), digestHex));
  expect(entry.body.toString('utf8')).to.equal(logged.toString('utf8'));
  expect(entry.indexKeys).to.include(`sha256:${digestHex}`);
}

describe('tlog: hashedrekord 0.0.1 entries', function () {
  this.timeout(30_000);

  it('reproduces the canonical body of real public-good hashedrekord entries (a Fulcio certificate, a managed key)', () => {
    reproduce('happy-path-v0.3', (b) => certPem(Buffer.from(b.verificationMaterial.certificate!.rawBytes, 'base64')));
    reproduce('managed-key-happy-path', () => readFileSync(join(CONFORMANCE, 'managed-key-happy-path/key.pub'), 'utf8'));
  });

  it('verifies the signature over the digest itself (sha256, sha384, sha512) and indexes the key and the digest', () => {
    const key = testKey();
    const data = Buffer.from('image payload');
    for (const alg of ['sha256', 'sha384', 'sha512'] as const) {
      const digest = createHash(alg).update(data).digest('hex');
      const sig = cryptoSign(alg, data, key.privateKey);
      const proposed = { apiVersion: '0.0.1', kind: 'hashedrekord', spec: { signature: { content: sig.toString('base64'), publicKey: { content: Buffer.from(key.pem).toString('base64') } }, data: { hash: { algorithm: alg, value: digest } } } };
      const entry = canonicalizeProposedEntry(proposed);
      expect(JSON.parse(entry.body.toString('utf8'))).to.deep.equal({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: proposed.spec.data, signature: proposed.spec.signature } });
      expect(entry.indexKeys).to.include(`${alg}:${digest}`);
      expect(entry.indexKeys).to.include(`sha256:${createHash('sha256').update(key.pem).digest('hex')}`);
    }
  });

  it('rejects bad signatures, wrong digests and keys, malformed specs with 400 "error processing entry"', () => {
    const key = testKey();
    const other = testKey();
    const data = Buffer.from('x');
    const digest = createHash('sha256').update(data).digest('hex');
    const sig = cryptoSign('sha256', data, key.privateKey);
    const ok = proposeHashedrekord(sig, key.pem, digest);
    expect(() => canonicalizeProposedEntry(ok)).not.to.throw();
    const cases: [unknown, RegExp][] = [
      [proposeHashedrekord(sig, other.pem, digest), /verifying signature/],
      [proposeHashedrekord(sig, key.pem, createHash('sha256').update('y').digest('hex')), /verifying signature/],
      [proposeHashedrekord(Buffer.from('not a signature'), key.pem, digest), /verifying signature/],
      [proposeHashedrekord(sig, key.pem, digest.slice(2)), /invalid value for hash/],
      [proposeHashedrekord(sig, key.pem, 'zz' + digest.slice(2)), /invalid byte/],
      [{ ...ok, spec: { ...(ok['spec'] as object), data: { hash: { algorithm: 'md5', value: digest } } } }, /should be one of/],
      [{ ...ok, spec: { data: (ok['spec'] as { data: unknown }).data } }, /missing signature/],
      [{ ...ok, spec: { signature: (ok['spec'] as { signature: unknown }).signature } }, /missing data/],
      [{ ...ok, spec: { ...(ok['spec'] as object), extra: 1 } }, /unknown field/],
      [proposeHashedrekord(sig, 'not a pem', digest), /PEM block/],
      [{ ...ok, apiVersion: '0.0.2' }, /not found/],
    ];
    for (const [proposed, why] of cases) {
      const r = rejected(() => canonicalizeProposedEntry(proposed));
      expect(r.status, r.message).to.equal(400);
      expect(r.message).to.match(/^error processing entry: /).and.to.match(why);
    }
    // Ed25519 keys: Rekor verifies Ed25519ph here; this log refuses them plainly
    const ed = generateKeyPairSync('ed25519');
    const edPem = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(rejected(() => canonicalizeProposedEntry(proposeHashedrekord(cryptoSign(null, data, ed.privateKey), edPem, digest))).message).to.match(/ECDSA keys only/);
  });

  describe('`vouch log serve`: HTTP round trip and a stock MessageSignatureBundleBuilder bundle', () => {
    const dir = tempDir('vouch-tlog-hashedrekord-');
    let child: ChildProcess | undefined;
    let url = '';
    before(async () => {
      const c = spawn(process.execPath, [CLI, 'log', 'serve', '--data', dir, '--listen', '127.0.0.1:0'], {
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
        c.once('exit', (code) => { reject(new Error(`vouch log serve exited ${String(code)}: ${out}`)); });
      });
    });
    after(async () => {
      const c = child;
      if (c && c.exitCode === null) {
        const exited = new Promise((resolve) => c.once('exit', resolve));
        c.kill('SIGTERM');
        await exited;
      }
    });

    const post = async (body: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
      const res = await fetch(`${url}/api/v1/log/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    const treeSize = async (): Promise<number> => ((await (await fetch(`${url}/api/v1/log`)).json()) as { treeSize: number }).treeSize;

    it('logs an entry, answers 409 for the same one, finds it by digest and key; a bad signature is a 400 that changes nothing', async () => {
      const key = testKey();
      const data = Buffer.from('round trip');
      const digest = createHash('sha256').update(data).digest('hex');
      const proposed = proposeHashedrekord(cryptoSign('sha256', data, key.privateKey), key.pem, digest);
      const first = await post(proposed);
      expect(first.status).to.equal(201);
      const [uuid, entry] = Object.entries(first.json)[0]! as [string, { body: string }];
      expect(JSON.parse(Buffer.from(entry.body, 'base64').toString('utf8'))).to.have.property('kind', 'hashedrekord');
      expect((await post(proposed)).status).to.equal(409);
      for (const query of [{ hash: `sha256:${digest}` }, { publicKey: { format: 'x509', content: Buffer.from(key.pem).toString('base64') } }]) {
        const res = await fetch(`${url}/api/v1/index/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(query) });
        expect(await res.json()).to.include(uuid);
      }
      const size = await treeSize();
      const bad = await post(proposeHashedrekord(cryptoSign('sha256', Buffer.from('other'), key.privateKey), key.pem, digest));
      expect(bad.status).to.equal(400);
      expect(bad.json).to.have.property('code', 400);
      expect(bad.json['message']).to.match(/^error processing entry: verifying signature/);
      expect(await treeSize()).to.equal(size);
    });

    it('MessageSignatureBundleBuilder + RekorWitness (default entry type) -> a bundle that attest/verify.ts accepts', async () => {
      const key = testKey();
      const signer: Signer = {
        sign: (d: Buffer) => Promise.resolve({ signature: cryptoSign('sha256', d, key.privateKey), key: { $case: 'publicKey', publicKey: key.pem, hint: key.id } }),
      };
      const witness = new RekorWitness({ rekorBaseURL: url, fetchOnConflict: true });
      const artifact = Buffer.from('a released artifact');
      const bundle = bundleToJSON(await new MessageSignatureBundleBuilder({ signer, witnesses: [witness] }).create({ data: artifact }));
      expect(bundle.verificationMaterial.tlogEntries[0]!.kindVersion).to.deep.equal({ kind: 'hashedrekord', version: '0.0.1' });
      const tr = await runVouch(['log', 'trusted-root', '--data', dir, '--url', url]);
      expect(tr.code, tr.stderr).to.equal(0);
      const trustedRoot: unknown = JSON.parse(tr.stdout);
      const result = verifyBundle({ bundle, artifact, policy: { publicKey: key.publicKey }, trustedRoot });
      expect(result.artifact).to.deep.include({ boundBy: 'messageDigest', digest: createHash('sha256').update(artifact).digest('hex') });
      expect(() => verifyBundle({ bundle, artifact: Buffer.from('another artifact'), policy: { publicKey: key.publicKey }, trustedRoot })).to.throw(VouchError);
    });
  });
});
