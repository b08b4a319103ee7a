import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { parsePublicKey } from '../../src/attest/keys.ts';
import { checkpointNamesOf, parseTrustedRoot, publicGoodTrustedRoot } from '../../src/attest/trust.ts';
import { LIMITS, prepareTrustedRoot, verifyBundle, type VerifyBundleOptions } from '../../src/attest/verify.ts';
import { VouchError } from '../../src/common/errors.ts';
import { SHARED } from '../helpers/cli.ts';

const KEYED = join(SHARED, 'fixtures/sigstore-keyed');
const SUITE = join(SHARED, 'fixtures/sigstore-conformance/bundle-verify');
const IDENTITY = 'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';
const A_TXT = readFileSync(join(SUITE, 'a.txt'));

const json = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const clone = <T>(v: T): T => structuredClone(v);

interface KeyedBundle {
  dsseEnvelope: { payload: string };
  verificationMaterial: { tlogEntries: Record<string, unknown>[] };
}
const keyedBundle = json(join(KEYED, 'bundle.json')) as unknown as KeyedBundle & Record<string, unknown>;
const keyedRoot = json(join(KEYED, 'trusted_root.json'));
const keyedKey = parsePublicKey(readFileSync(join(KEYED, 'key.pub')), 'key.pub');
const keyedSubject = (JSON.parse(Buffer.from(keyedBundle.dsseEnvelope.payload, 'base64').toString()) as { subject: { digest: { sha512: string } }[] }).subject[0]!.digest.sha512;

function keyed(overrides: Partial<VerifyBundleOptions> = {}): VerifyBundleOptions {
  return { bundle: clone(keyedBundle), artifact: { sha512: keyedSubject }, policy: { publicKey: keyedKey }, trustedRoot: keyedRoot, ...overrides };
}

function rejects(options: VerifyBundleOptions, code: string, message?: RegExp): VouchError {
  try {
    verifyBundle(options);
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(VouchError);
    expect((err as VouchError).code, (err as Error).message).to.equal(code);
    if (message) expect((err as Error).message).to.match(message);
    return err as VouchError;
  }
  throw new Error('expected verification to fail');
}

describe('attest: verifyBundle', () => {
  describe('the real key-signed bundle (sigstore-keyed: npm publish attestation, intoto 0.0.2, SET only)', () => {
    it('verifies with its key and trusted root, saying what it checked', () => {
      const r = verifyBundle(keyed());
      expect(r.content).to.equal('dsseEnvelope');
      expect(r.signer).to.include({ kind: 'publicKey' });
      expect(r.artifact).to.deep.equal({ algorithm: 'sha512', digest: keyedSubject, boundBy: 'statementSubject' });
      expect(r.statement?._type).to.equal('https://in-toto.io/Statement/v0.1');
      expect(r.tlogEntries).to.have.length(1);
      expect(r.tlogEntries[0]).to.include({ kind: 'intoto', version: '0.0.2', logIndex: '18300940', inclusionPromise: true, logBaseUrl: 'https://rekor.sigstore.dev' });
      expect(r.tlogEntries[0]!.integratedTime).to.equal('2023-04-18T17:45:16.000Z');
      expect(r.trustedRoot).to.equal('given');
      expect(r.checks.join('\n')).to.match(/signed entry timestamp/);
    });

    it('verifies offline with the public-good root shipped in @sigstore/tuf when no root is given', () => {
      const o = keyed();
      delete o.trustedRoot;
      expect(verifyBundle(o).trustedRoot).to.equal('public-good');
      expect(publicGoodTrustedRoot().tlogs.some((t) => t.baseUrl === 'https://rekor.sigstore.dev')).to.be.true;
    });

    it('fails with another key, another artifact, or a certificate policy', () => {
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
      rejects(keyed({ policy: { publicKey: other } }), 'VERIFICATION_FAILED', /signature verification failed/);
      rejects(keyed({ artifact: { sha512: 'ab'.repeat(64) } }), 'VERIFICATION_FAILED', /no subject of the in-toto statement has the artifact's digest/);
      rejects(keyed({ artifact: { sha256: 'ab'.repeat(32) } }), 'VERIFICATION_FAILED', /no subject/);
      rejects(keyed({ policy: { certificateIdentity: 'x', certificateIssuer: 'y' } }), 'VERIFICATION_FAILED', /verify it with --key/);
    });

    it('judges time: an integrated time in the future fails', () => {
      rejects(keyed({ now: new Date('2023-04-18T17:00:00Z') }), 'VERIFICATION_FAILED', /in the future/);
      verifyBundle(keyed({ now: new Date('2023-04-18T17:44:00Z') })); // within the allowed clock skew
    });

    it('fails when the log key was not valid when the entry was logged', () => {
      const root = clone(keyedRoot) as { tlogs: { publicKey: { validFor: Record<string, string> } }[] };
      for (const t of root.tlogs) t.publicKey.validFor = { start: '2024-01-01T00:00:00Z' };
      rejects(keyed({ trustedRoot: root }), 'VERIFICATION_FAILED');
    });

    it('rejects a duplicated log entry instead of counting it twice', () => {
      const b = clone(keyedBundle);
      b.verificationMaterial.tlogEntries.push(clone(b.verificationMaterial.tlogEntries[0]!));
      rejects(keyed({ bundle: b }), 'VERIFICATION_FAILED', /duplicate/);
    });
  });

  describe('hardening around @sigstore/verify', () => {
    const v03 = json(join(SUITE, 'happy-path-intoto-in-dsse-v3/bundle.sigstore.json'));
    const identity = { certificateIdentity: IDENTITY, certificateIssuer: ISSUER };

    it('compares the certificate identity and issuer exactly (the library would take them as regular expressions)', () => {
      verifyBundle({ bundle: v03, artifact: A_TXT, policy: identity });
      for (const certificateIdentity of ['.*', `${IDENTITY.slice(0, -4)}.*`, IDENTITY.slice(1), `${IDENTITY}x`]) {
        rejects({ bundle: v03, artifact: A_TXT, policy: { ...identity, certificateIdentity } }, 'VERIFICATION_FAILED', /certificate's identity/);
      }
      rejects({ bundle: v03, artifact: A_TXT, policy: { ...identity, certificateIssuer: 'https://token.actions.githubusercontent' } }, 'VERIFICATION_FAILED', /OIDC issuer/);
    });

    it('binds a DSSE in-toto bundle to its subject: another artifact fails', () => {
      rejects({ bundle: v03, artifact: Buffer.from('not a.txt'), policy: identity }, 'VERIFICATION_FAILED', /no subject of the in-toto statement/);
    });

    it('requires the checkpoint signer name to equal the log name, not merely to occur in its URL', () => {
      const asJson = TrustedRoot.toJSON(publicGoodTrustedRoot()) as { tlogs: { baseUrl: string }[] };
      for (const t of asJson.tlogs) if (t.baseUrl === 'https://rekor.sigstore.dev') t.baseUrl = 'https://rekor.sigstore.dev.example.net';
      rejects({ bundle: v03, artifact: A_TXT, policy: identity, trustedRoot: asJson }, 'VERIFICATION_FAILED', /exact name/);
      expect(checkpointNamesOf('https://rekor.sigstore.dev')).to.deep.equal(['rekor.sigstore.dev']);
      expect(checkpointNamesOf('http://localhost:8000')).to.deep.equal(['localhost:8000', 'localhost']);
      expect(checkpointNamesOf('not a url')).to.deep.equal([]);
    });

    it('rejects a trusted root whose log (or authority) lacks a validity start, and garbage roots', () => {
      const root = clone(keyedRoot) as { tlogs: { publicKey: { validFor?: unknown } }[] };
      delete root.tlogs[0]!.publicKey.validFor;
      rejects(keyed({ trustedRoot: root }), 'TRUSTED_ROOT_INVALID', /validFor\.start is missing/);
      for (const bad of [null, [], 'x', {}, { mediaType: 'application/json' }, { ...keyedRoot, tlogs: {} }]) {
        expect(() => parseTrustedRoot(bad, 'r')).to.throw(VouchError).with.property('code', 'TRUSTED_ROOT_INVALID');
      }
      const badKey = clone(keyedRoot) as { tlogs: { publicKey: { rawBytes: string } }[] };
      badKey.tlogs[0]!.publicKey.rawBytes = 'AAAA';
      expect(() => prepareTrustedRoot(badKey)).to.throw(VouchError).with.property('code', 'TRUSTED_ROOT_INVALID');
    });

    it('turns malformed bundles into BUNDLE_INVALID with the field path, never a crash', () => {
      const cases: [unknown, RegExp][] = [
        [null, /\(root\): is missing/],
        ['{}', /\(root\): must be an object/],
        [[], /\(root\): must be an object/],
        [{}, /mediaType: unsupported bundle version undefined/],
        [{ ...keyedBundle, mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.4' }, /unsupported bundle version/],
        [{ ...keyedBundle, verificationMaterial: undefined }, /verificationMaterial: is missing/],
        [{ ...keyedBundle, dsseEnvelope: { ...keyedBundle.dsseEnvelope, payload: 'no*base64' } }, /dsseEnvelope\.payload: is not valid base64/],
        [{ ...keyedBundle, verificationMaterial: { ...keyedBundle.verificationMaterial, tlogEntries: [{ ...keyedBundle.verificationMaterial.tlogEntries[0], logIndex: '-1' }] } }, /tlogEntries\[0\]\.logIndex: must be a non-negative integer/],
        [{ ...keyedBundle, verificationMaterial: { ...keyedBundle.verificationMaterial, tlogEntries: Array(LIMITS.tlogEntries + 1).fill(keyedBundle.verificationMaterial.tlogEntries[0]) } }, /more than the 16 allowed/],
        [{ ...keyedBundle, verificationMaterial: { tlogEntries: [] } }, /invalid v0\.1 bundle/],
      ];
      for (const [bundle, message] of cases) rejects(keyed({ bundle }), 'BUNDLE_INVALID', message);
    });

    it('survives every field of real bundles replaced by junk: a VouchError each time, never another exception', () => {
      const junk: unknown[] = [null, 'x', 7, -1, [], {}, true, 'AAAA'];
      for (const [bundle, options] of [
        [keyedBundle, keyed()],
        [v03, { bundle: v03, artifact: A_TXT, policy: identity }],
      ] as const) {
        let paths = 0;
        for (const path of leafPaths(bundle)) {
          for (const value of junk) {
            const b = clone(bundle) as Record<string, unknown>;
            setPath(b, path, value);
            try {
              verifyBundle({ ...options, bundle: b });
            } catch (err) {
              expect(err, `${path.join('.')} = ${JSON.stringify(value)}: ${String(err)}`).to.be.instanceOf(VouchError);
            }
          }
          paths++;
        }
        expect(paths).to.be.greaterThan(10);
      }
    });
  });
});

function leafPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => leafPaths(v, [...prefix, k]))].filter((p) => p.length > 0);
}

function setPath(root: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let node = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
}
