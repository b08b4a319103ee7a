// Acceptance test of the log's formats: bundles made by stock @sigstore/sign (DSSEBundleBuilder + RekorWitness over
// HTTP, entry types dsse and intoto, fetchOnConflict) verify with stock @sigstore/verify under our trusted root.
import { expect } from 'chai';
import { sign as cryptoSign } from 'node:crypto';
import { bundleFromJSON, bundleToJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { DSSEBundleBuilder, RekorWitness, type Signer } from '@sigstore/sign';
import { toSignedEntity, toTrustMaterial, Verifier, VerificationError } from '@sigstore/verify';
import { EmbeddedLog } from '../../src/tlog/log.ts';
import { serve, type RunningServer } from '../../src/tlog/server.ts';
import { trustedRootFor } from '../../src/tlog/trusted-root.ts';
import { EmbeddedLogWitness } from '../../src/tlog/witness.ts';
import { tempDir } from '../helpers/tmp.ts';
import { statement, testKey, hex64, type TestKey } from './helpers.ts';

/** An ECDSA P-256 signer; it remembers its signatures so that signing the same statement twice gives the same entry. */
function signer(key: TestKey): Signer {
  const memo = new Map<string, Buffer>();
  return {
    sign: (data: Buffer) => {
      const k = data.toString('base64');
      const signature = memo.get(k) ?? cryptoSign('sha256', data, key.privateKey);
      memo.set(k, signature);
      return Promise.resolve({ signature, key: { $case: 'publicKey', publicKey: key.pem, hint: key.id } });
    },
  };
}

function verifierFor(trustedRoot: unknown, key: TestKey): Verifier {
  const material = toTrustMaterial(TrustedRoot.fromJSON(trustedRoot), (hint: string) => {
    if (hint !== key.id) throw new VerificationError({ code: 'PUBLIC_KEY_ERROR', message: `unknown key ${hint}` });
    return { publicKey: key.publicKey, validFor: () => true };
  });
  return new Verifier(material);
}

describe('tlog: stock sigstore-js signs against the log and verifies with its trusted root', function () {
  this.timeout(30_000);
  let log: EmbeddedLog;
  let running: RunningServer;
  let trustedRoot: unknown;
  const key = testKey();

  before(async () => {
    log = await EmbeddedLog.open(tempDir('vouch-tlog-sig-'), { name: '127.0.0.1' });
    running = await serve(log, '127.0.0.1', 0);
    trustedRoot = trustedRootFor(log, { url: running.url });
  });
  after(async () => {
    await running.close();
    await log.close();
  });

  for (const entryType of ['dsse', 'intoto'] as const) {
    it(`${entryType}: DSSEBundleBuilder + RekorWitness (HTTP) -> bundle v0.3 that @sigstore/verify accepts`, async () => {
      const witness = new RekorWitness({ rekorBaseURL: running.url, entryType, fetchOnConflict: true });
      const builder = new DSSEBundleBuilder({ signer: signer(key), witnesses: [witness] });
      const payload = statement(hex64(entryType === 'dsse' ? 1 : 2));
      const bundle = await builder.create({ data: payload, type: 'application/vnd.in-toto+json' });
      const json = bundleToJSON(bundle) as unknown as { mediaType: string; verificationMaterial: { tlogEntries: { kindVersion: { kind: string }; logIndex?: string; canonicalizedBody: string }[] } };
      expect(json.mediaType).to.equal('application/vnd.dev.sigstore.bundle.v0.3+json');
      expect(json.verificationMaterial.tlogEntries[0]!.kindVersion.kind).to.equal(entryType);
      const verifier = verifierFor(trustedRoot, key);
      verifier.verify(toSignedEntity(bundleFromJSON(json)));

      // the same envelope again: the log answers 409 + Location, RekorWitness fetches the existing entry
      const sizeBefore = log.size;
      const again = bundleToJSON(await builder.create({ data: payload, type: 'application/vnd.in-toto+json' })) as unknown as typeof json;
      expect(log.size).to.equal(sizeBefore);
      const [a, b] = [again.verificationMaterial.tlogEntries[0]!, json.verificationMaterial.tlogEntries[0]!];
      expect([a.logIndex, a.canonicalizedBody]).to.deep.equal([b.logIndex, b.canonicalizedBody]);
      verifier.verify(toSignedEntity(bundleFromJSON(again)));

      // tampering with the checkpoint, a proof hash, the body or the SET fails verification
      const tampered = (mutate: (j: Record<string, unknown>) => void): void => {
        const copy = JSON.parse(JSON.stringify(json)) as Record<string, unknown>;
        mutate(copy);
        expect(() => verifier.verify(toSignedEntity(bundleFromJSON(copy)))).to.throw();
      };
      type E = { verificationMaterial: { tlogEntries: Record<string, unknown>[] } };
      const entry = (j: Record<string, unknown>) => (j as unknown as E).verificationMaterial.tlogEntries[0]!;
      tampered((j) => {
        const p = entry(j)['inclusionProof'] as { checkpoint: { envelope: string } };
        p.checkpoint.envelope = p.checkpoint.envelope.replace(/\n(\d+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`);
      });
      tampered((j) => {
        const p = entry(j)['inclusionProof'] as { hashes?: string[]; logIndex: string };
        if (!p.hashes || p.hashes.length === 0) p.logIndex = '1';
        else p.hashes[0] = Buffer.alloc(32, 7).toString('base64');
      });
      tampered((j) => {
        entry(j)['canonicalizedBody'] = Buffer.from(Buffer.from(entry(j)['canonicalizedBody'] as string, 'base64').toString().replace('sha256', 'sha256 ')).toString('base64');
      });
      tampered((j) => {
        const pr = entry(j)['inclusionPromise'] as { signedEntryTimestamp: string };
        const b = Buffer.from(pr.signedEntryTimestamp, 'base64');
        b[b.length - 1]! ^= 1;
        pr.signedEntryTimestamp = b.toString('base64');
      });
    });
  }

  it('the in-process witness (EmbeddedLogWitness) produces bundles that verify the same way', async () => {
    for (const entryType of ['dsse', 'intoto'] as const) {
      const builder = new DSSEBundleBuilder({ signer: signer(key), witnesses: [new EmbeddedLogWitness(log, entryType)] });
      const bundle = await builder.create({ data: statement(hex64(10), entryType === 'dsse' ? 10 : 11), type: 'application/vnd.in-toto+json' });
      verifierFor(trustedRoot, key).verify(toSignedEntity(bundle));
    }
  });

  it('a trusted root whose URL host is not the log name is refused (the verifier would reject every checkpoint)', () => {
    expect(() => trustedRootFor(log, { url: 'http://example.com' })).to.throw(/signs its checkpoints as "127.0.0.1"/);
    // contains the name, but the host is another one: a substring rule would accept it, the exact-name verifier not
    expect(() => trustedRootFor(log, { url: 'http://127.0.0.1.example.com:3000' })).to.throw(/signs its checkpoints as "127.0.0.1"/);
    expect(trustedRootFor(log, { url: 'http://127.0.0.1:3000/' }).tlogs[0]!.baseUrl).to.equal('http://127.0.0.1:3000');
  });
});
