// `vouch attest` -> `vouch verify-bundle` against the real embedded log (src/tlog) over HTTP and in-process, and
// what tampering and garbage do to verification.
import { expect } from 'chai';
import { createHash, createPrivateKey } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TransparencyLogEntry } from '@sigstore/bundle';
import type { Witness } from '@sigstore/sign';
import { generateKeyPair } from '../../src/attest/keys.ts';
import { signStatement } from '../../src/attest/sign.ts';
import { buildStatement } from '../../src/attest/statement.ts';
import { prepareTrustedRoot, verifyBundle, type PreparedTrustedRoot } from '../../src/attest/verify.ts';
import { VouchError } from '../../src/common/errors.ts';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { serve, type RunningServer } from '../../src/tlog/server.ts';
import { EmbeddedLogWitness } from '../../src/tlog/witness.ts';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

const PREDICATE_TYPE = 'https://slsa.dev/provenance/v1';

interface BundleJSON {
  dsseEnvelope: { payload: string; signatures: { sig: string }[] };
  verificationMaterial: {
    tlogEntries: {
      logIndex: string;
      canonicalizedBody: string;
      inclusionPromise: { signedEntryTimestamp: string };
      inclusionProof: { rootHash: string; hashes: string[]; treeSize: string; checkpoint: { envelope: string } };
    }[];
  };
}

describe('cli: vouch attest and vouch verify-bundle with the embedded log', function () {
  this.timeout(120_000);
  const dir = tempDirPerSuite();
  let log: EmbeddedLog;
  let server: RunningServer;
  let f: (name: string) => string;
  let artifact: Buffer;
  let digest: string;
  let rootFile: string;
  let root: PreparedTrustedRoot;

  before(async () => {
    f = (name) => join(dir(), name);
    const signer = generateKeyPair();
    writeFileSync(f('signer.key'), signer.privateKeyPem, { mode: 0o600 });
    writeFileSync(f('signer.pub'), signer.publicKeyPem);
    writeFileSync(f('other.pub'), generateKeyPair().publicKeyPem);
    const locked = generateKeyPair('s3cret');
    writeFileSync(f('locked.key'), locked.privateKeyPem, { mode: 0o600 });
    writeFileSync(f('predicate.json'), JSON.stringify({ buildDefinition: { buildType: 'https://example.com/build/v1', externalParameters: {} }, runDetails: { builder: { id: 'https://example.com/builder' } } }));
    artifact = Buffer.from('the artifact\n');
    writeFileSync(f('app.tar'), artifact);
    digest = createHash('sha256').update(artifact).digest('hex');

    log = await EmbeddedLog.open(f('log'));
    server = await serve(log, '127.0.0.1', 0);
    // earlier entries, so that the attested entry's inclusion proof has hashes to tamper with
    const other = createPrivateKey(generateKeyPair().privateKeyPem);
    for (let i = 0; i < 6; i++) {
      const statement = buildStatement({ subjects: [{ name: `other-${i}`, sha256: createHash('sha256').update(String(i)).digest('hex') }], predicateType: PREDICATE_TYPE, predicate: { i } });
      await signStatement({ statement, privateKey: other, witness: new EmbeddedLogWitness(log) });
    }
    const port = new URL(server.url).port;
    const tr = await runVouch(['log', 'trusted-root', '--data', f('log'), '--url', `http://localhost:${port}`]);
    expect(tr.code, tr.stderr).to.equal(0);
    rootFile = f('trusted_root.json');
    writeFileSync(rootFile, tr.stdout);
    root = prepareTrustedRoot(JSON.parse(tr.stdout));
  });

  after(async () => {
    await server?.close(100);
    await log?.close();
  });

  const attestArgs = (out: string, extra: string[] = []): string[] => [
    'attest', '--predicate-type', PREDICATE_TYPE, '--predicate', f('predicate.json'), '--subject', `app.tar=sha256:${digest}`, '--key', f('signer.key'), '--out', out, ...extra,
  ];
  const verifyArgs = (bundle: string, key = f('signer.pub'), what = f('app.tar'), trusted: string[] = ['--trusted-root', rootFile]): string[] => [
    'verify-bundle', '--bundle', bundle, '--key', key, ...trusted, what,
  ];

  it('attests over Rekor HTTP (dsse), checks the answer, and the bundle verifies with the log trusted root: by file and by digest', async () => {
    const out = f('app.dsse.sigstore.json');
    const r = await runVouch(attestArgs(out, ['--rekor', server.url, '--trusted-root', rootFile]));
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/logged in http:\/\/127\.0\.0\.1:\d+ as dsse entry #6/);
    expect(r.stdout).to.include('verified against the log key before writing');
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as BundleJSON & { mediaType: string };
    expect(bundle.mediaType).to.equal('application/vnd.dev.sigstore.bundle.v0.3+json');
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as { _type: string; subject: unknown };
    expect(statement._type).to.equal('https://in-toto.io/Statement/v1');
    expect(statement.subject).to.deep.equal([{ name: 'app.tar', digest: { sha256: digest } }]);

    for (const what of [f('app.tar'), `sha256:${digest}`]) {
      const v = await runVouch(verifyArgs(out, f('signer.pub'), what));
      expect(v.code, v.stderr).to.equal(0);
      expect(v.stdout).to.match(/dsse 0\.0\.1 entry #6 in http:\/\/localhost:\d+/);
    }
  });

  it('the same bundle fails with another key, another artifact, or without the log in the trusted root', async () => {
    const out = f('app.dsse.sigstore.json');
    writeFileSync(f('other.tar'), 'something else');
    const wrongKey = await runVouch(verifyArgs(out, f('other.pub')));
    expect(wrongKey.code).to.equal(1);
    expect(wrongKey.stderr).to.match(/signature verification failed \[VERIFICATION_FAILED\]/);
    const wrongArtifact = await runVouch(verifyArgs(out, f('signer.pub'), f('other.tar')));
    expect(wrongArtifact.code).to.equal(1);
    expect(wrongArtifact.stderr).to.include('no subject of the in-toto statement');
    const publicGood = await runVouch(verifyArgs(out, f('signer.pub'), f('app.tar'), []));
    expect(publicGood.code).to.equal(1);
    expect(publicGood.stderr).to.match(/not in the trusted root|inclusion/);
  });

  it('attests as an intoto 0.0.2 entry too', async () => {
    const out = f('app.intoto.sigstore.json');
    const r = await runVouch(attestArgs(out, ['--rekor', server.url, '--entry-type', 'intoto', '--trusted-root', rootFile]));
    expect(r.code, r.stderr).to.equal(0);
    const v = await runVouch(verifyArgs(out));
    expect(v.code, v.stderr).to.equal(0);
    expect(v.stdout).to.match(/intoto 0\.0\.2 entry/);
  });

  it('without --rekor, logs in-process in the embedded log of tlog.data; its trusted root verifies the bundle', async () => {
    const data = f('local-log');
    mkdirSync(data);
    const out = f('local.sigstore.json');
    const r = await runVouch(attestArgs(out), { env: { VOUCH_TLOG_DATA: data } });
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.match(/logged in the embedded log .* as dsse entry #0/);
    const tr = await runVouch(['log', 'trusted-root', '--data', data]);
    expect(tr.code, tr.stderr).to.equal(0);
    writeFileSync(f('local-root.json'), tr.stdout);
    const v = await runVouch(verifyArgs(out, f('signer.pub'), f('app.tar'), ['--trusted-root', f('local-root.json')]));
    expect(v.code, v.stderr).to.equal(0);
    // an answer from a log the verifier does not trust fails
    const cross = await runVouch(verifyArgs(out));
    expect(cross.code).to.equal(1);
  });

  it('flipping any byte of the payload, the signature, the canonical body, a proof hash, the root hash, the SET or the checkpoint fails verification', async () => {
    const bundle = JSON.parse(readFileSync(f('app.dsse.sigstore.json'), 'utf8')) as BundleJSON;
    const key = createPrivateKey(readFileSync(f('signer.key')));
    const options = { artifact, policy: { publicKey: key }, trustedRoot: root };
    verifyBundle({ ...options, bundle });
    const entry = (b: BundleJSON): BundleJSON['verificationMaterial']['tlogEntries'][number] => b.verificationMaterial.tlogEntries[0]!;
    expect(entry(bundle).inclusionProof.hashes.length).to.be.greaterThan(1);

    // each target: how to read the bytes from a bundle, and how to put changed bytes back
    const b64 = (get: (b: BundleJSON) => string, set: (b: BundleJSON, v: string) => void): [(b: BundleJSON) => Buffer, (b: BundleJSON, v: Buffer) => void] => [
      (b) => Buffer.from(get(b), 'base64'),
      (b, v) => {
        set(b, v.toString('base64'));
      },
    ];
    const targets: Record<string, [(b: BundleJSON) => Buffer, (b: BundleJSON, v: Buffer) => void]> = {
      payload: b64((b) => b.dsseEnvelope.payload, (b, v) => (b.dsseEnvelope.payload = v)),
      signature: b64((b) => b.dsseEnvelope.signatures[0]!.sig, (b, v) => (b.dsseEnvelope.signatures[0]!.sig = v)),
      'canonical body': b64((b) => entry(b).canonicalizedBody, (b, v) => (entry(b).canonicalizedBody = v)),
      'root hash': b64((b) => entry(b).inclusionProof.rootHash, (b, v) => (entry(b).inclusionProof.rootHash = v)),
      SET: b64((b) => entry(b).inclusionPromise.signedEntryTimestamp, (b, v) => (entry(b).inclusionPromise.signedEntryTimestamp = v)),
      checkpoint: [(b) => Buffer.from(entry(b).inclusionProof.checkpoint.envelope, 'utf8'), (b, v) => (entry(b).inclusionProof.checkpoint.envelope = v.toString('utf8'))],
    };
    entry(bundle).inclusionProof.hashes.forEach((_, i) => {
      targets[`proof hash ${i}`] = b64((b) => entry(b).inclusionProof.hashes[i]!, (b, v) => (entry(b).inclusionProof.hashes[i] = v));
    });

    let flips = 0;
    for (const [name, [get, set]] of Object.entries(targets)) {
      const bytes = get(bundle);
      expect(bytes.length, name).to.be.greaterThan(0);
      for (let i = 0; i < bytes.length; i++) {
        for (const mask of [0x01, 0x80]) {
          const changed = Buffer.from(bytes);
          changed[i]! ^= mask;
          const b = structuredClone(bundle);
          set(b, changed);
          try {
            verifyBundle({ ...options, bundle: b });
            expect.fail(`${name}: flipping byte ${i} (mask ${mask}) still verified`);
          } catch (err) {
            expect(err, `${name} byte ${i}: ${String(err)}`).to.be.instanceOf(VouchError);
          }
          flips++;
        }
      }
    }
    expect(flips).to.be.greaterThan(1000);

    // and through the CLI, once per kind of tampering
    for (const [name, [get, set]] of Object.entries(targets)) {
      const b = structuredClone(bundle);
      const bytes = get(b);
      bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
      set(b, bytes);
      writeFileSync(f('tampered.json'), JSON.stringify(b));
      const v = await runVouch(verifyArgs(f('tampered.json')));
      expect(v.code, `${name}: ${v.stderr}`).to.equal(1);
    }
  });

  it('signStatement checks what the log answers: a lying log yields TLOG_REJECTED and no bundle', async () => {
    const key = createPrivateKey(readFileSync(f('signer.key')));
    const honest = new EmbeddedLogWitness(log);
    const statement = buildStatement({ subjects: [{ name: 'app.tar', sha256: digest }], predicateType: PREDICATE_TYPE, predicate: { lie: true } });
    const lies: Record<string, (e: TransparencyLogEntry) => void> = {
      'another log index': (e) => {
        e.logIndex = String(Number(e.logIndex) + 1);
      },
      'a later integrated time': (e) => {
        e.integratedTime = String(Number(e.integratedTime) + 60);
      },
      'a body of another entry': (e) => {
        e.canonicalizedBody = Buffer.from(e.canonicalizedBody.toString().replace('"dsse"', '"intoto"'));
      },
      'no inclusion proof hashes': (e) => {
        e.inclusionProof!.hashes = [];
      },
    };
    for (const [name, lie] of Object.entries(lies)) {
      const witness: Witness = {
        testify: async (content, publicKey) => {
          const material = await honest.testify(content, publicKey);
          lie(material.tlogEntries![0]!);
          return material;
        },
      };
      try {
        await signStatement({ statement, privateKey: key, witness, logTrustedRoot: root });
        expect.fail(`${name}: accepted`);
      } catch (err) {
        expect(err, name).to.be.instanceOf(VouchError);
        expect((err as VouchError).code, `${name}: ${(err as Error).message}`).to.equal('TLOG_REJECTED');
      }
    }
    const ok = await signStatement({ statement, privateKey: key, witness: honest, logTrustedRoot: root });
    expect(ok.verification?.signer).to.include({ kind: 'publicKey' });
  });

  it('garbage and truncated bundles give one clear line and exit 1, unreadable files exit 3, never a stack trace', async () => {
    const good = readFileSync(f('app.dsse.sigstore.json'), 'utf8');
    const cases: [string, string, number, RegExp][] = [
      ['truncated.json', good.slice(0, Math.floor(good.length / 2)), 1, /bundle is not valid JSON .*\[BUNDLE_INVALID\]/],
      ['empty.json', '', 1, /not valid JSON/],
      ['null.json', 'null', 1, /\(root\): is missing \[BUNDLE_INVALID\]/],
      ['array.json', '[1,2]', 1, /must be an object \[BUNDLE_INVALID\]/],
      ['binary.json', '\u0000\u0001garbage', 1, /not valid JSON/],
      ['other-json.json', JSON.stringify({ hello: 'world' }), 1, /unsupported bundle version/],
    ];
    for (const [name, text, code, message] of cases) {
      writeFileSync(f(name), text);
      const v = await runVouch(verifyArgs(f(name)));
      expect(v.code, `${name}: ${v.stderr}`).to.equal(code);
      expect(v.stderr, name).to.match(message);
      expect(v.stderr.trim().split('\n'), name).to.have.length(1);
      expect(v.stderr, name).not.to.match(/\n\s+at |internal error/);
    }
    for (const bundle of [f('missing.json'), dir()]) {
      const v = await runVouch(verifyArgs(bundle));
      expect(v.code, v.stderr).to.equal(3);
      expect(v.stderr).to.match(/cannot read bundle .*\[IO\]/);
    }
  });

  it('verify-bundle usage errors exit 2', async () => {
    const bundle = f('app.dsse.sigstore.json');
    const both = await runVouch(['verify-bundle', '--bundle', bundle, '--key', f('signer.pub'), '--certificate-identity', 'x', '--certificate-oidc-issuer', 'y', f('app.tar')]);
    expect(both.code).to.equal(2);
    const neither = await runVouch(['verify-bundle', '--bundle', bundle, f('app.tar')]);
    expect(neither.code).to.equal(2);
    expect(neither.stderr).to.include('say who must have signed');
    const missingArtifact = await runVouch(verifyArgs(bundle, f('signer.pub'), f('nope.tar')));
    expect(missingArtifact.code).to.equal(3);
    const badRoot = await runVouch(verifyArgs(bundle, f('signer.pub'), f('app.tar'), ['--trusted-root', f('predicate.json')]));
    expect(badRoot.code).to.equal(2);
    expect(badRoot.stderr).to.include('[TRUSTED_ROOT_INVALID]');
  });

  it('vouch attest refuses bad input (exit 2) and reports an unreachable log (exit 3)', async () => {
    const out = f('never.json');
    const badSubject = await runVouch(['attest', '--predicate-type', PREDICATE_TYPE, '--predicate', f('predicate.json'), '--subject', 'app.tar', '--key', f('signer.key'), '--rekor', server.url, '--out', out]);
    expect(badSubject.code).to.equal(2);
    expect(badSubject.stderr).to.include('expected NAME=sha256:HEX');
    writeFileSync(f('list.json'), '[1]');
    const badPredicate = await runVouch(['attest', '--predicate-type', PREDICATE_TYPE, '--predicate', f('list.json'), '--subject', `a=sha256:${digest}`, '--key', f('signer.key'), '--rekor', server.url, '--out', out]);
    expect(badPredicate.code).to.equal(2);
    expect(badPredicate.stderr).to.include('must be a JSON object');
    const badType = await runVouch(['attest', '--predicate-type', 'provenance', '--predicate', f('predicate.json'), '--subject', `a=sha256:${digest}`, '--key', f('signer.key'), '--rekor', server.url, '--out', out]);
    expect(badType.code).to.equal(2);
    expect(badType.stderr).to.include('predicateType: must be a URI');
    const locked = await runVouch(attestArgs(out, ['--rekor', server.url]).map((a) => (a === f('signer.key') ? f('locked.key') : a)), { env: { VOUCH_KEY_PASSWORD: '' } });
    expect(locked.code).to.equal(2);
    expect(locked.stderr).to.include('[KEY_PASSWORD_REQUIRED]');
    const unlocked = await runVouch(attestArgs(f('locked.sigstore.json'), ['--rekor', server.url, '--trusted-root', rootFile]).map((a) => (a === f('signer.key') ? f('locked.key') : a)), { env: { VOUCH_KEY_PASSWORD: 's3cret' } });
    expect(unlocked.code, unlocked.stderr).to.equal(0);
    expect(unlocked.stdout + unlocked.stderr).not.to.include('s3cret');
    const down = await runVouch(attestArgs(out, ['--rekor', 'http://127.0.0.1:9']));
    expect(down.code, down.stderr).to.equal(3);
    expect(down.stderr).to.include('[TLOG_UNAVAILABLE]');
  });
});
