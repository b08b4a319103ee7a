import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { json } from '@sigstore/core';
import { IN_TOTO_PAYLOAD_TYPE, parseEnvelope, preAuthEncoding, type DsseEnvelope } from '../attest/dsse.ts';
import { parsePublicKey, verifyBytes } from '../attest/keys.ts';
import { sha256Hex } from '../common/digest.ts';
import { VouchError, errorMessage } from '../common/errors.ts';

// The entry kinds the log accepts, validated strictly and canonicalized exactly as Rekor v1 does
// (sigstore/rekor pkg/types/{dsse/v0.0.1,intoto/v0.0.2,hashedrekord/v0.0.1}/entry.go):
//
// dsse 0.0.1   request  {"apiVersion":"0.0.1","kind":"dsse","spec":{"proposedContent":{"envelope":"<envelope JSON>",
//                        "verifiers":["<base64 PEM>", …]}}}
//              body     {"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":hex of
//                        sha256(envelope string as sent)},"payloadHash":{…sha256 of the decoded payload},"signatures":
//                        [{"signature":<sig b64>,"verifier":<base64 of the canonical PEM of the key that verified it>}]}}
//                        signatures sorted by signature string; the proposed content is dropped.
// intoto 0.0.2 request  {"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"payload":b64(b64 payload),
//                        "payloadType":…,"signatures":[{"keyid"?,"sig":b64(b64 sig),"publicKey":b64 PEM}]},
//                        "hash":{"algorithm":"sha256","value":…},"payloadHash"?:{…}}}}
//              body     the same without envelope.payload, keyid omitted when empty, payloadHash computed by the log;
//                        hash is the client's (Rekor cannot recompute it: clients hash different serialisations).
// hashedrekord 0.0.1  request  {"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"content":b64 sig,
//                        "publicKey":{"content":b64 PEM}},"data":{"hash":{"algorithm":"sha256"|"sha384"|"sha512","value":hex}}}}
//              body     the same with the key as its canonical PEM and the signature re-encoded; the signature must
//                        verify over the digest itself (no hashing by the log). Only ECDSA keys (P-256/384/521): Rekor
//                        also takes RSA and Ed25519ph here, which this log refuses with a clear error.
// dsse/intoto: every signature of the envelope must verify over the DSSE PAE with one of the given keys, and every given
// key must verify one. Keys: ECDSA P-256 or Ed25519 public keys (SPKI PEM) or X.509 certificates holding one (PEM);
// like Rekor, the log checks no certificate chain or validity period: verifiers do that against their trust root.
// Canonical JSON is RFC 8785 (json.canonicalize from @sigstore/core), as Rekor's jsoncanonicalizer.
//
// Rejections are VouchError TLOG_ENTRY_INVALID whose details carry the HTTP status and Rekor error code to answer
// with: 400 for a bad entry, 422 (with go-openapi's 6xx codes) for a request that fails schema validation.

export type EntryKind = 'dsse' | 'intoto' | 'hashedrekord';

export interface CanonicalEntry {
  kind: EntryKind;
  apiVersion: string;
  /** canonical JSON bytes: what is logged and hashed into the tree */
  body: Buffer;
  /** lowercased search keys (Rekor's IndexKeys): `sha256:<hex>` of keys, payload, envelope; subjects' `alg:digest` */
  indexKeys: string[];
}

// go-openapi validation codes (github.com/go-openapi/errors): served with HTTP 422
export const OPENAPI_INVALID_TYPE = 601;
export const OPENAPI_REQUIRED = 602;
export const OPENAPI_PATTERN = 605;
export const OPENAPI_MIN = 609;

/** The kinds a Rekor v1 server knows; other values are not a kind at all (422, as go-openapi's discriminator says). */
const REKOR_KINDS = new Set(['alpine', 'cose', 'dsse', 'hashedrekord', 'helm', 'intoto', 'jar', 'rekord', 'rfc3161', 'rpm', 'tuf']);

export function entryError(message: string, status = 400, code: number = status): VouchError {
  return new VouchError('TLOG_ENTRY_INVALID', message, { details: { status, code } });
}

function processingError(why: string): VouchError {
  return entryError(`error processing entry: ${why}`);
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes standard base64 with padding, refusing anything that does not re-encode to itself. */
function strictBase64(value: unknown, field: string): Buffer {
  if (typeof value !== 'string') throw processingError(`${field} must be a base64 string`);
  if (!STRICT_BASE64.test(value)) throw processingError(`${field} is not canonical standard base64`);
  return Buffer.from(value, 'base64');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: Record<string, unknown>, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) throw processingError(`unknown field ${where}.${k}`);
}

/** A verifier key with the canonical value Rekor stores (x509.PublicKey.CanonicalValue(): PEM of SPKI or of the cert). */
interface Verifier {
  key: KeyObject;
  canonicalPem: string;
}

function pemBlocks(text: string): { label: string; der: Buffer }[] {
  const blocks: { label: string; der: Buffer }[] = [];
  const re = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1-----/g;
  for (const m of text.matchAll(re)) blocks.push({ label: m[1]!, der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') });
  return blocks;
}

function toPem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

// Parsed verifiers by their PEM text: a log sees the same few signing keys over and over, and parsing and
// re-encoding a key costs more than verifying a signature with it.
const verifierCache = new Map<string, Verifier>();
const VERIFIER_CACHE_SIZE = 1024;

/** Parses base64(PEM) of a public key or certificate, as Rekor's x509.NewPublicKey does. */
export function parseVerifier(pemBytes: Buffer, field: string): Verifier {
  const text = pemBytes.toString('utf8');
  const cached = verifierCache.get(text);
  if (cached) return cached;
  const v = parseVerifierUncached(text, field);
  if (verifierCache.size >= VERIFIER_CACHE_SIZE) verifierCache.delete(verifierCache.keys().next().value!);
  verifierCache.set(text, v);
  return v;
}

function parseVerifierUncached(text: string, field: string): Verifier {
  const blocks = pemBlocks(text);
  if (blocks.length !== 1) throw processingError(`${field}: expected one PEM block (PUBLIC KEY or CERTIFICATE), found ${blocks.length}`);
  const block = blocks[0]!;
  try {
    if (block.label === 'CERTIFICATE') {
      const cert = new X509Certificate(block.der);
      const spkiPem = cert.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      return { key: parsePublicKey(spkiPem, field), canonicalPem: toPem('CERTIFICATE', Buffer.from(cert.raw)) };
    }
    if (block.label === 'PUBLIC KEY') {
      const key = parsePublicKey(createPublicKey({ key: block.der, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }), field);
      return { key, canonicalPem: key.export({ type: 'spki', format: 'pem' }).toString() };
    }
  } catch (err) {
    throw processingError(`${field}: ${errorMessage(err)}`);
  }
  throw processingError(`${field}: unsupported PEM type ${block.label}; give a PUBLIC KEY or a CERTIFICATE`);
}

/**
 * Rekor's verifyEnvelope: every signature must verify with one of the keys and every key must verify at least one
 * signature. Returns, for each signature string, the verifier that verified it.
 */
function verifyAll(envelope: DsseEnvelope, verifiers: Verifier[]): Map<string, Verifier> {
  const pae = preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, 'base64'));
  const bySig = new Map<string, Verifier>();
  for (const v of verifiers) {
    let any = false;
    for (const s of envelope.signatures) {
      if (verifyBytes(v.key, pae, Buffer.from(s.sig, 'base64'))) {
        bySig.set(s.sig, v);
        any = true;
      }
    }
    if (!any) throw processingError('could not verify envelope: a verifier matches no signature');
  }
  for (const s of envelope.signatures) {
    if (!bySig.has(s.sig)) throw processingError('all signatures must have a key that verifies it');
  }
  return bySig;
}

/** Subject digests (and SLSA v0.2 material digests) of an in-toto statement, as Rekor indexes them. */
function statementIndexKeys(payloadType: string, payload: Buffer): string[] {
  if (payloadType !== IN_TOTO_PAYLOAD_TYPE) return [];
  let statement: unknown;
  try {
    statement = JSON.parse(payload.toString('utf8'));
  } catch {
    return [];
  }
  const keys: string[] = [];
  const digestsOf = (list: unknown): void => {
    if (!Array.isArray(list)) return;
    for (const item of list) {
      if (!isObject(item) || !isObject(item['digest'])) continue;
      for (const [alg, value] of Object.entries(item['digest'])) if (typeof value === 'string') keys.push(`${alg}:${value}`);
    }
  };
  if (isObject(statement)) {
    digestsOf(statement['subject']);
    const predicate = statement['predicate'];
    if (isObject(predicate)) digestsOf(predicate['materials']);
  }
  return keys;
}

function finishKeys(keys: string[]): string[] {
  return [...new Set(keys.map((k) => k.toLowerCase()))];
}

function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(json.canonicalize(value), 'utf8');
}

function hashObject(value: unknown, field: string): { algorithm: 'sha256'; value: string } {
  if (!isObject(value)) throw processingError(`${field} must be an object`);
  onlyKeys(value, ['algorithm', 'value'], field);
  if (value['algorithm'] !== 'sha256') throw processingError(`${field}.algorithm must be "sha256"`);
  if (typeof value['value'] !== 'string' || !/^[0-9a-f]{64}$/.test(value['value'])) throw processingError(`${field}.value must be 64 lowercase hex digits`);
  return { algorithm: 'sha256', value: value['value'] };
}

function canonicalizeDsse(spec: Record<string, unknown>): CanonicalEntry {
  onlyKeys(spec, ['proposedContent', 'envelopeHash', 'payloadHash', 'signatures'], 'spec');
  if (spec['envelopeHash'] !== undefined || spec['payloadHash'] !== undefined || spec['signatures'] !== undefined) {
    throw processingError('either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both');
  }
  const proposed = spec['proposedContent'];
  if (!isObject(proposed)) throw processingError('spec.proposedContent is required');
  onlyKeys(proposed, ['envelope', 'verifiers'], 'spec.proposedContent');
  const envelopeText = proposed['envelope'];
  if (typeof envelopeText !== 'string' || envelopeText === '') throw processingError('spec.proposedContent.envelope must be the envelope as a JSON string');
  const verifiersIn = proposed['verifiers'];
  if (!Array.isArray(verifiersIn) || verifiersIn.length === 0) throw processingError('spec.proposedContent.verifiers must list at least one base64 PEM key');
  let envelopeJson: unknown;
  try {
    envelopeJson = JSON.parse(envelopeText);
  } catch (err) {
    throw processingError(`envelope is not JSON: ${errorMessage(err)}`);
  }
  const envelope = asEnvelope(envelopeJson, 'envelope');
  const verifiers = verifiersIn.map((v, i) => parseVerifier(strictBase64(v, `verifiers[${i}]`), `verifiers[${i}]`));
  const bySig = verifyAll(envelope, verifiers);
  const payload = Buffer.from(envelope.payload, 'base64');
  const payloadHash = sha256Hex(payload);
  const envelopeHash = sha256Hex(Buffer.from(envelopeText, 'utf8'));
  const signatures = [...bySig.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([signature, v]) => ({ signature, verifier: Buffer.from(v.canonicalPem).toString('base64') }));
  const body = {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: envelopeHash },
      payloadHash: { algorithm: 'sha256', value: payloadHash },
      signatures,
    },
  };
  const keys = [
    ...verifiers.map((v) => `sha256:${sha256Hex(v.canonicalPem)}`),
    `sha256:${payloadHash}`,
    `sha256:${envelopeHash}`,
    ...statementIndexKeys(envelope.payloadType, payload),
  ];
  return { kind: 'dsse', apiVersion: '0.0.1', body: canonicalBytes(body), indexKeys: finishKeys(keys) };
}

function asEnvelope(value: unknown, source: string): DsseEnvelope {
  try {
    const env = parseEnvelope(value, source);
    strictBase64(env.payload, `${source}.payload`);
    env.signatures.forEach((s, i) => strictBase64(s.sig, `${source}.signatures[${i}].sig`));
    return env;
  } catch (err) {
    if (err instanceof VouchError && err.code === 'TLOG_ENTRY_INVALID') throw err;
    throw processingError(errorMessage(err));
  }
}

function canonicalizeIntoto(spec: Record<string, unknown>): CanonicalEntry {
  onlyKeys(spec, ['content'], 'spec');
  const content = spec['content'];
  if (!isObject(content)) throw entryError('content in body is required', 422, OPENAPI_REQUIRED);
  onlyKeys(content, ['envelope', 'hash', 'payloadHash'], 'spec.content');
  const env = content['envelope'];
  if (!isObject(env)) throw processingError('spec.content.envelope is required');
  onlyKeys(env, ['payload', 'payloadType', 'signatures'], 'spec.content.envelope');
  if (env['payload'] === undefined || env['payload'] === '') throw processingError('missing envelope content');
  const payloadB64 = strictBase64(env['payload'], 'envelope.payload').toString('latin1');
  const payloadType = env['payloadType'];
  if (typeof payloadType !== 'string' || payloadType === '') throw processingError('missing payloadType content');
  const sigsIn = env['signatures'];
  if (!Array.isArray(sigsIn) || sigsIn.length === 0) throw processingError('missing signatures content');
  const sigs = sigsIn.map((s: unknown, i) => {
    if (!isObject(s)) throw processingError(`envelope.signatures[${i}] must be an object`);
    onlyKeys(s, ['keyid', 'sig', 'publicKey'], `envelope.signatures[${i}]`);
    const keyid = s['keyid'];
    if (keyid !== undefined && typeof keyid !== 'string') throw processingError(`envelope.signatures[${i}].keyid must be a string`);
    const sigText = strictBase64(s['sig'], `envelope.signatures[${i}].sig`).toString('latin1');
    if (sigText === '') throw processingError('missing signature content');
    const pem = strictBase64(s['publicKey'], `envelope.signatures[${i}].publicKey`);
    if (pem.length === 0) throw processingError('missing publicKey content');
    return { keyid: keyid ?? '', sigField: s['sig'] as string, sig: sigText, publicKeyField: s['publicKey'] as string, verifier: parseVerifier(pem, `envelope.signatures[${i}].publicKey`) };
  });
  const envelope = asEnvelope({ payloadType, payload: payloadB64, signatures: sigs.map((s) => ({ keyid: s.keyid, sig: s.sig })) }, 'envelope');
  // Rekor passes every signature's key as a candidate for every signature
  verifyAll(envelope, sigs.map((s) => s.verifier));
  const payload = Buffer.from(payloadB64, 'base64');
  const payloadHash = sha256Hex(payload);
  if (content['hash'] === undefined) throw processingError('missing envelope digest');
  const hash = hashObject(content['hash'], 'spec.content.hash');
  if (content['payloadHash'] !== undefined) {
    const given = hashObject(content['payloadHash'], 'spec.content.payloadHash');
    if (given.value !== payloadHash) throw processingError('spec.content.payloadHash does not match the envelope payload');
  }
  const body = {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: {
          payloadType,
          signatures: sigs.map((s) => ({ ...(s.keyid !== '' ? { keyid: s.keyid } : {}), sig: s.sigField, publicKey: s.publicKeyField })),
        },
        hash,
        payloadHash: { algorithm: 'sha256', value: payloadHash },
      },
    },
  };
  const keys = [...sigs.map((s) => `sha256:${sha256Hex(s.verifier.canonicalPem)}`), `sha256:${payloadHash}`, ...statementIndexKeys(payloadType, payload)];
  return { kind: 'intoto', apiVersion: '0.0.2', body: canonicalBytes(body), indexKeys: finishKeys(keys) };
}

/**
 * Validates a proposed entry (the parsed JSON of a POST /api/v1/log/entries body) and returns its canonical body and
 * index keys. Throws TLOG_ENTRY_INVALID with the HTTP status and Rekor code in details.
 */
export function canonicalizeProposedEntry(proposed: unknown): CanonicalEntry {
  if (!isObject(proposed)) throw entryError('parsing proposedEntry body failed: expected a JSON object');
  const kind = proposed['kind'];
  if (kind === undefined) throw entryError('kind in body is required', 422, OPENAPI_REQUIRED);
  if (typeof kind !== 'string' || !REKOR_KINDS.has(kind)) throw entryError(`invalid kind value: ${JSON.stringify(kind)}`, 422, 422);
  if (kind !== 'dsse' && kind !== 'intoto' && kind !== 'hashedrekord') {
    throw processingError(`kind ${kind} is not accepted by this log (it accepts dsse 0.0.1, intoto 0.0.2 and hashedrekord 0.0.1)`);
  }
  onlyKeys(proposed, ['kind', 'apiVersion', 'spec'], 'body');
  const apiVersion = proposed['apiVersion'];
  if (apiVersion === undefined) throw entryError('apiVersion in body is required', 422, OPENAPI_REQUIRED);
  const spec = proposed['spec'];
  if (spec === undefined) throw entryError('spec in body is required', 422, OPENAPI_REQUIRED);
  const want = kind === 'intoto' ? '0.0.2' : '0.0.1';
  if (apiVersion !== want) throw processingError(`${kind} implementation for apiVersion ${JSON.stringify(apiVersion)} not found (this log accepts ${kind} ${want})`);
  if (!isObject(spec)) throw processingError('spec must be an object');
  if (kind === 'hashedrekord') return canonicalizeHashedrekord(spec);
  return kind === 'dsse' ? canonicalizeDsse(spec) : canonicalizeIntoto(spec);
}

const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Verifies an ECDSA signature (ASN.1 DER) over a digest as given, as Go's ecdsa.VerifyASN1 does: Node's crypto.verify
 * always hashes its input, so the check is done with @noble/curves (as attest/verify.ts does for message signatures).
 */
export function verifyEcdsaDigest(key: KeyObject, digest: Uint8Array, signature: Uint8Array): boolean {
  if (key.asymmetricKeyType !== 'ec') return false;
  const named = key.asymmetricKeyDetails?.namedCurve;
  const curve = named === 'prime256v1' ? p256 : named === 'secp384r1' ? p384 : named === 'secp521r1' ? p521 : undefined;
  if (!curve) return false;
  const jwk = key.export({ format: 'jwk' });
  if (!jwk.x || !jwk.y) return false;
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  try {
    return curve.verify(signature, digest, point, { prehash: false, format: 'der', lowS: false });
  } catch {
    return false;
  }
}

function canonicalizeHashedrekord(spec: Record<string, unknown>): CanonicalEntry {
  onlyKeys(spec, ['signature', 'data'], 'spec');
  const sig = spec['signature'];
  if (!isObject(sig)) throw processingError('missing signature');
  onlyKeys(sig, ['content', 'publicKey'], 'spec.signature');
  const sigBytes = strictBase64(sig['content'], 'spec.signature.content');
  if (sigBytes.length === 0) throw processingError('missing signature content');
  const pk = sig['publicKey'];
  if (!isObject(pk)) throw processingError('missing public key');
  onlyKeys(pk, ['content'], 'spec.signature.publicKey');
  const pem = strictBase64(pk['content'], 'spec.signature.publicKey.content');
  if (pem.length === 0) throw processingError('missing publicKey content');
  const verifier = parseVerifier(pem, 'spec.signature.publicKey.content');
  const data = spec['data'];
  if (!isObject(data)) throw processingError('missing data');
  onlyKeys(data, ['hash'], 'spec.data');
  const hash = data['hash'];
  if (!isObject(hash)) throw processingError('missing hash');
  onlyKeys(hash, ['algorithm', 'value'], 'spec.data.hash');
  const algorithm = hash['algorithm'];
  const value = hash['value'];
  if (typeof algorithm !== 'string' || !(algorithm in DIGEST_HEX_LENGTH)) {
    // the spec is free-form to go-openapi, so Rekor's model validation fails in processing: 400
    throw processingError('spec.data.hash.algorithm in body should be one of [sha256 sha384 sha512]');
  }
  if (typeof value !== 'string' || value.length !== DIGEST_HEX_LENGTH[algorithm]) throw processingError('invalid value for hash');
  if (!/^[0-9a-fA-F]*$/.test(value)) throw processingError(`encoding/hex: invalid byte in ${JSON.stringify(value)}`);
  if (verifier.key.asymmetricKeyType !== 'ec') {
    throw processingError(`verifying signature: this log verifies hashedrekord signatures of ECDSA keys only, not ${String(verifier.key.asymmetricKeyType)}`);
  }
  if (!verifyEcdsaDigest(verifier.key, Buffer.from(value, 'hex'), sigBytes)) throw processingError('verifying signature: invalid signature when validating ASN.1 encoded signature');
  const canonicalPem = Buffer.from(verifier.canonicalPem);
  const body = {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: { hash: { algorithm, value } },
      signature: { content: sigBytes.toString('base64'), publicKey: { content: canonicalPem.toString('base64') } },
    },
  };
  // Rekor keys the key by the hash of its canonical PEM (searchable as publicKey) and the data by `alg:hex`
  return { kind: 'hashedrekord', apiVersion: '0.0.1', body: canonicalBytes(body), indexKeys: finishKeys([`sha256:${sha256Hex(canonicalPem)}`, `${algorithm}:${value}`]) };
}

/** Parses a canonical body as logged, for readers of entries (kind, apiVersion and spec). */
export function parseBody(body: Buffer): { kind: string; apiVersion: string; spec: Record<string, unknown> } {
  const parsed: unknown = JSON.parse(body.toString('utf8'));
  if (!isObject(parsed) || typeof parsed['kind'] !== 'string' || typeof parsed['apiVersion'] !== 'string' || !isObject(parsed['spec'])) {
    throw new VouchError('TLOG_CORRUPT', 'logged body is not a Rekor entry');
  }
  return { kind: parsed['kind'], apiVersion: parsed['apiVersion'], spec: parsed['spec'] };
}

/** The index key for a public key given in a search query (base64 PEM), as Rekor computes it. */
export function publicKeyIndexKey(pemBase64: string): string {
  const v = parseVerifier(strictBase64(pemBase64, 'publicKey.content'), 'publicKey.content');
  return `sha256:${sha256Hex(v.canonicalPem)}`;
}

// ---- proposed entries, as a client builds them (the same requests @sigstore/sign's RekorWitness sends) ----

/** A dsse 0.0.1 proposed entry for an envelope (its JSON text exactly as it will be hashed) and a PEM key or cert. */
export function proposeDsse(envelopeJson: string, verifierPem: string): Record<string, unknown> {
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: { proposedContent: { envelope: envelopeJson, verifiers: [Buffer.from(verifierPem).toString('base64')] } },
  };
}

/** A hashedrekord 0.0.1 proposed entry: a signature over the sha256 digest `sha256Hex` with a PEM key or cert. */
export function proposeHashedrekord(signature: Uint8Array, verifierPem: string, sha256HexDigest: string): Record<string, unknown> {
  return {
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      signature: { content: Buffer.from(signature).toString('base64'), publicKey: { content: Buffer.from(verifierPem).toString('base64') } },
      data: { hash: { algorithm: 'sha256', value: sha256HexDigest } },
    },
  };
}

/**
 * An intoto 0.0.2 proposed entry for a single-signature envelope. `hash` follows sigstore-js: sha256 of the canonical
 * JSON of {payloadType, payload (b64), signatures: [{sig (b64), publicKey (PEM), keyid if non-empty}]}.
 */
export function proposeIntoto(envelope: DsseEnvelope, publicKeyPem: string): Record<string, unknown> {
  const sig = envelope.signatures[0];
  if (!sig || envelope.signatures.length !== 1) throw new VouchError('INPUT_INVALID', 'an intoto entry is made for an envelope with exactly one signature');
  const withKeyid = <T extends object>(o: T): T & { keyid?: string } => (sig.keyid !== '' ? { ...o, keyid: sig.keyid } : o);
  const hash = sha256Hex(json.canonicalize({ payloadType: envelope.payloadType, payload: envelope.payload, signatures: [withKeyid({ sig: sig.sig, publicKey: publicKeyPem })] }));
  return {
    apiVersion: '0.0.2',
    kind: 'intoto',
    spec: {
      content: {
        envelope: {
          payloadType: envelope.payloadType,
          payload: Buffer.from(envelope.payload).toString('base64'),
          signatures: [withKeyid({ sig: Buffer.from(sig.sig).toString('base64'), publicKey: Buffer.from(publicKeyPem).toString('base64') })],
        },
        hash: { algorithm: 'sha256', value: hash },
        payloadHash: { algorithm: 'sha256', value: sha256Hex(Buffer.from(envelope.payload, 'base64')) },
      },
    },
  };
}
