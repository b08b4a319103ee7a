// Canonical bodies reproduced from real logged data: the public-good intoto 0.0.2 entry of the keyed fixture and a
// dsse 0.0.1 entry of the conformance suite; and strict rejection of everything else.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { json } from '@sigstore/core';
import { IN_TOTO_PAYLOAD_TYPE } from '../../src/attest/dsse.ts';
import { sha256Hex } from '../../src/common/digest.ts';
import { VouchError } from '../../src/common/errors.ts';
import { canonicalizeProposedEntry, proposeDsse, proposeIntoto } from '../../src/tlog/entries.ts';
import { SHARED } from '../helpers/cli.ts';
import { dsseEntry, envelope, hex64, intotoEntry, statement, testKey } from './helpers.ts';

interface BundleJSON {
  verificationMaterial: { tlogEntries: { canonicalizedBody: string }[] };
  dsseEnvelope: { payload: string; payloadType: string; signatures: { sig: string; keyid?: string }[] };
}

function rejected(fn: () => unknown): { status: number; code: number; message: string } {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(VouchError).with.property('code', 'TLOG_ENTRY_INVALID');
    const d = (err as VouchError).details as { status: number; code: number };
    return { status: d.status, code: d.code, message: (err as Error).message };
  }
  return expect.fail('expected a rejection');
}

describe('tlog: entry kinds (Rekor dsse 0.0.1, intoto 0.0.2)', () => {
  it('reproduces the canonical body of a real public-good intoto 0.0.2 entry from its envelope and key', () => {
    const dir = join(SHARED, 'fixtures/sigstore-keyed');
    const bundle = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8')) as BundleJSON;
    const logged = Buffer.from(bundle.verificationMaterial.tlogEntries[0]!.canonicalizedBody, 'base64');
    // the npm CLI (sigstore-js) sent the PEM without its final newline; Rekor stores the key as sent
    const pem = readFileSync(join(dir, 'key.pub'), 'utf8').trimEnd();
    const env = bundle.dsseEnvelope;
    const proposed = proposeIntoto({ payloadType: env.payloadType, payload: env.payload, signatures: env.signatures.map((s) => ({ keyid: s.keyid ?? '', sig: s.sig })) }, pem) as {
      spec: { content: { hash: { value: string } } };
    };
    // `hash` is the client's own digest of its envelope, stored as sent; the npm CLI of 2023 (sigstore-js 1.x) hashed
    // the canonical envelope without the key, where today's sigstore-js includes it (as proposeIntoto does)
    proposed.spec.content.hash.value = sha256Hex(json.canonicalize({ payloadType: env.payloadType, payload: env.payload, signatures: env.signatures }));
    const ours = canonicalizeProposedEntry(proposed);
    expect(ours.body.toString()).to.equal(logged.toString());
    expect(ours.kind).to.equal('intoto');
    // index keys: the key's digest, the payload hash and the statement's subject digest (sha512 here)
    expect(ours.indexKeys).to.include('sha256:245bd86804e433c6212ae2bd80ec750ba41cc9a4a9d167af2738c453260818a8');
    expect(ours.indexKeys.some((k) => k.startsWith('sha512:76176ffa'))).to.equal(true);
  });

  it('reproduces the canonical body of a real dsse 0.0.1 entry (conformance happy-path-intoto-in-dsse-v3)', () => {
    const bundle = JSON.parse(readFileSync(join(SHARED, 'fixtures/sigstore-conformance/bundle-verify/happy-path-intoto-in-dsse-v3/bundle.sigstore.json'), 'utf8')) as BundleJSON & {
      verificationMaterial: { certificate: { rawBytes: string } };
    };
    const logged = Buffer.from(bundle.verificationMaterial.tlogEntries[0]!.canonicalizedBody, 'base64');
    expect(logged.toString()).to.include('"kind":"dsse"');
    const der = Buffer.from(bundle.verificationMaterial.certificate.rawBytes, 'base64');
    const certPem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    // the client hashed its envelope serialisation: JSON.stringify of the bundle's envelope, in this field order
    const ours = canonicalizeProposedEntry(proposeDsse(JSON.stringify(bundle.dsseEnvelope), certPem));
    expect(ours.body.toString()).to.equal(logged.toString());
    expect(ours.indexKeys).to.include('sha256:d6b209ba9dde3b1ee5edebb88d1b1b917b72eeb614328e7ba667f5b7ab70e987');
    expect(ours.indexKeys).to.include('sha256:5608b4de188cd2cf3b6d79691c3160fd6feeec897b34a8e48fcf465323c23a73');
    expect(ours.indexKeys).to.include('sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf');
  });

  it('dsse: stores hashes, sorted signatures and canonical PEM verifiers, drops the proposed content', () => {
    const a = testKey();
    const b = testKey();
    const payload = statement(hex64(3));
    const e1 = envelope(a, payload);
    const e2 = envelope(b, payload);
    const env = JSON.stringify({ ...e1, signatures: [...e1.signatures, ...e2.signatures] });
    const entry = canonicalizeProposedEntry({ apiVersion: '0.0.1', kind: 'dsse', spec: { proposedContent: { envelope: env, verifiers: [a.pem, b.pem].map((p) => Buffer.from(p).toString('base64')) } } });
    const body = JSON.parse(entry.body.toString()) as { spec: { signatures: { signature: string; verifier: string }[] } };
    const sigs = body.spec.signatures.map((s) => s.signature);
    expect(sigs).to.deep.equal([...sigs].sort());
    expect(entry.body.toString()).not.to.include('proposedContent');
    expect(entry.body.toString()).not.to.include(e1.payload);
    expect(entry.indexKeys).to.include(`sha256:${hex64(3)}`);
  });

  it('rejects, with Rekor status codes, everything that is not a valid, verified entry', () => {
    const key = testKey();
    const other = testKey();
    const payload = statement(hex64(4));
    const good = dsseEntry(key, payload) as { spec: { proposedContent: { envelope: string; verifiers: string[] } } };
    expect(rejected(() => canonicalizeProposedEntry('x')).status).to.equal(400);
    expect(rejected(() => canonicalizeProposedEntry({ apiVersion: '0.0.1', spec: {} }))).to.include({ status: 422, code: 602 });
    expect(rejected(() => canonicalizeProposedEntry({ kind: 'bogus', apiVersion: '0.0.1', spec: {} }))).to.include({ status: 422, code: 422 });
    expect(rejected(() => canonicalizeProposedEntry({ kind: 'hashedrekord', apiVersion: '0.0.1', spec: {} })).status).to.equal(400);
    expect(rejected(() => canonicalizeProposedEntry({ ...good, apiVersion: '0.0.2' })).message).to.match(/apiVersion/);
    expect(rejected(() => canonicalizeProposedEntry({ ...intotoEntry(key, payload), apiVersion: '0.0.1' })).status).to.equal(400);
    // signature by another key than the verifier given
    const wrongKey = proposeDsse(good.spec.proposedContent.envelope, other.pem);
    expect(rejected(() => canonicalizeProposedEntry(wrongKey)).message).to.match(/verif/);
    // payload changed after signing
    const env = JSON.parse(good.spec.proposedContent.envelope) as { payload: string };
    env.payload = Buffer.from(statement(hex64(5))).toString('base64');
    expect(rejected(() => canonicalizeProposedEntry(proposeDsse(JSON.stringify(env), key.pem))).status).to.equal(400);
    // malformed pieces
    expect(rejected(() => canonicalizeProposedEntry(proposeDsse('{not json', key.pem))).status).to.equal(400);
    expect(rejected(() => canonicalizeProposedEntry({ ...good, spec: { proposedContent: { ...good.spec.proposedContent, verifiers: ['%%%'] } } })).status).to.equal(400);
    expect(rejected(() => canonicalizeProposedEntry({ ...good, spec: { proposedContent: { ...good.spec.proposedContent, verifiers: [] } } })).status).to.equal(400);
    expect(rejected(() => canonicalizeProposedEntry({ ...good, spec: { ...good.spec, signatures: [] } })).status).to.equal(400);
    expect(rejected(() => canonicalizeProposedEntry({ ...good, extra: 1 })).status).to.equal(400);
    // intoto: payloadHash that does not match, missing hash, tampered double-encoded signature
    const it = intotoEntry(key, payload) as { spec: { content: { hash?: unknown; payloadHash: { value: string }; envelope: { signatures: { sig: string }[] } } } };
    const bad1 = structuredClone(it);
    bad1.spec.content.payloadHash.value = hex64(9);
    expect(rejected(() => canonicalizeProposedEntry(bad1)).message).to.match(/payloadHash/);
    const bad2 = structuredClone(it);
    delete bad2.spec.content.hash;
    expect(rejected(() => canonicalizeProposedEntry(bad2)).message).to.match(/digest/);
    const bad3 = structuredClone(it);
    const sig = Buffer.from(Buffer.from(bad3.spec.content.envelope.signatures[0]!.sig, 'base64').toString(), 'base64');
    sig[10]! ^= 1;
    bad3.spec.content.envelope.signatures[0]!.sig = Buffer.from(sig.toString('base64')).toString('base64');
    expect(rejected(() => canonicalizeProposedEntry(bad3)).status).to.equal(400);
    // an unsupported key type (P-384) as verifier
    expect(IN_TOTO_PAYLOAD_TYPE).to.be.a('string');
  });
});
