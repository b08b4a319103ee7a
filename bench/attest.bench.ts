// Bundle verifications per second (a bundle made here with the embedded log, and the real key-signed fixture), next
// to the raw ECDSA P-256 sign and verify rates of the same machine in the same run: the ratio says how much of a
// verification is the signature checks (envelope, SET, checkpoint) and how much is parsing and the rest.
import { createHash, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKeyPair, parsePublicKey } from '../src/attest/keys.ts';
import { signStatement } from '../src/attest/sign.ts';
import { buildStatement } from '../src/attest/statement.ts';
import { prepareTrustedRoot, verifyBundle } from '../src/attest/verify.ts';
import { EmbeddedLog } from '../src/tlog/log.ts';
import { trustedRootFor } from '../src/tlog/trusted-root.ts';
import { EmbeddedLogWitness } from '../src/tlog/witness.ts';
import { rate, rawEcdsaRates, type Report } from './harness.ts';

const SHARED = fileURLToPath(new URL('../../shared/', import.meta.url));

export default async function bench(report: Report): Promise<void> {
  const G = 'attest';
  const { sign: signRate, verify: verifyRate } = await rawEcdsaRates();
  report.row(G, 'raw ECDSA P-256 sign', signRate, 'ops/s', 'node:crypto, 256-byte message');
  report.row(G, 'raw ECDSA P-256 verify', verifyRate, 'ops/s', 'node:crypto, 256-byte message');

  // a locally produced key-signed bundle: DSSE in-toto, dsse 0.0.1 entry with SET and inclusion proof
  const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-attest-'));
  try {
    const log = await EmbeddedLog.open(join(dir, 'log'));
    const signer = createPrivateKey(generateKeyPair().privateKeyPem);
    const artifact = Buffer.from('bench artifact');
    const statement = buildStatement({ subjects: [{ name: 'a', sha256: createHash('sha256').update(artifact).digest('hex') }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} });
    const n = 20;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const s = buildStatement({ subjects: [{ name: `a${i}`, sha256: createHash('sha256').update(String(i)).digest('hex') }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} });
      await signStatement({ statement: s, privateKey: signer, witness: new EmbeddedLogWitness(log) });
    }
    report.row(G, 'sign + log (embedded, in-process)', (n * 1000) / (performance.now() - start), 'bundles/s', 'sequential: each waits for its own fsync');
    const signed = await signStatement({ statement, privateKey: signer, witness: new EmbeddedLogWitness(log) });
    const root = prepareTrustedRoot(trustedRootFor(log));
    const localOptions = { bundle: signed.json, artifact, policy: { publicKey: signer }, trustedRoot: root };
    verifyBundle(localOptions);
    const local = await rate(() => verifyBundle(localOptions));
    report.row(G, 'verify bundle: local (SET + proof + checkpoint)', local, 'bundles/s', `${(verifyRate / local).toFixed(1)}x the time of one raw verify; 4 ECDSA verifies inside: envelope, SET, checkpoint (library, then vouch's exact-name check)`);
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // the real key-signed fixture: intoto 0.0.2, SET only
  const keyed = join(SHARED, 'fixtures/sigstore-keyed');
  const bundle = JSON.parse(readFileSync(join(keyed, 'bundle.json'), 'utf8')) as { dsseEnvelope: { payload: string } };
  const subject = (JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString()) as { subject: { digest: { sha512: string } }[] }).subject[0]!.digest.sha512;
  const fixtureOptions = {
    bundle,
    artifact: { sha512: subject },
    policy: { publicKey: parsePublicKey(readFileSync(join(keyed, 'key.pub')), 'key.pub') },
    trustedRoot: prepareTrustedRoot(JSON.parse(readFileSync(join(keyed, 'trusted_root.json'), 'utf8'))),
  };
  verifyBundle(fixtureOptions);
  const fixture = await rate(() => verifyBundle(fixtureOptions));
  report.row(G, 'verify bundle: sigstore-keyed fixture (SET)', fixture, 'bundles/s', `${(verifyRate / fixture).toFixed(1)}x the time of one raw verify; 2 ECDSA verifies inside`);
  const unprepared = { ...fixtureOptions, trustedRoot: JSON.parse(readFileSync(join(keyed, 'trusted_root.json'), 'utf8')) as unknown };
  report.row(G, 'verify bundle: fixture, trusted root parsed each time', await rate(() => verifyBundle(unprepared)), 'bundles/s', 'what a CLI invocation pays');
}
