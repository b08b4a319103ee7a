import { createHash, type KeyObject } from 'node:crypto';
import { p256, p384 } from '@noble/curves/nist.js';
import { bundleFromJSON, type Bundle, type TransparencyLogEntry } from '@sigstore/bundle';
import { crypto as coreCrypto, X509Certificate } from '@sigstore/core';
import { HashAlgorithm, type TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, type SignedEntity, type Signer, type TrustMaterial } from '@sigstore/verify';
import { isSha256Hex, type Sha256Hex } from '../common/digest.ts';
import { errorMessage, VouchError } from '../common/errors.ts';
import { IN_TOTO_PAYLOAD_TYPE } from './dsse.ts';
import { keyId } from './keys.ts';
import { STATEMENT_TYPE_V01, STATEMENT_TYPE_V1, parseStatement, subjectMatchesDigest, type Statement } from './statement.ts';
import { checkpointNamesOf, parseTrustedRoot, publicGoodTrustedRoot } from './trust.ts';

// Verification of Sigstore bundles, built on @sigstore/verify 4.x, with the checks that library leaves to its caller
// (shared/notes/sigstore.md): strict parsing that turns every malformed input into a verification error, the
// artifact bound to the signature (message digest, or in-toto subject for DSSE), exact certificate identity,
// integrated times not in the future, log keys valid when the entry was logged, checkpoints signed under the log's
// exact name, inclusion proofs consistent with their checkpoint, a trusted root whose logs say since when they are
// trusted, and bounded input sizes. Verification is offline: without a trusted root we use the public-good root
// that ships inside @sigstore/tuf and never fetch TUF.

export const BUNDLE_MEDIA_TYPES: readonly string[] = [
  'application/vnd.dev.sigstore.bundle+json;version=0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
];

/** Bounds on untrusted input: far above anything real, far below what would hurt. */
export const LIMITS = {
  bundleBytes: 16 * 1024 * 1024,
  tlogEntries: 16,
  certificates: 10,
  timestamps: 16,
  proofHashes: 64,
  checkpointChars: 64 * 1024,
  base64Chars: 12 * 1024 * 1024,
  /** clock skew tolerated before an integrated time or timestamp counts as "in the future" */
  clockSkewSeconds: 120,
} as const;

/** What the bundle must be bound to: the artifact's bytes, or its digest (sha256; sha512 for subjects that only carry one; gitCommit for statements about a commit, e.g. approvals). */
export type ArtifactInput = Buffer | { sha256: Sha256Hex } | { sha512: string } | { gitCommit: string };

export type VerifyPolicy = { publicKey: KeyObject } | { certificateIdentity: string; certificateIssuer: string };

export interface VerifyBundleOptions {
  /** the bundle as parsed JSON (untrusted) */
  bundle: unknown;
  artifact: ArtifactInput;
  policy: VerifyPolicy;
  /** a trusted root as parsed JSON, or one prepared with prepareTrustedRoot; default: the public-good root */
  trustedRoot?: unknown;
  /** the time to judge "in the future" against (tests) */
  now?: Date;
}

export interface VerifiedTlogEntry {
  /** hex */
  logId: string;
  logBaseUrl: string;
  logIndex: string;
  kind: string;
  version: string;
  integratedTime?: string;
  inclusionPromise: boolean;
  inclusionProof?: { treeSize: string; rootHash: string; checkpointOrigin: string };
}

/** What was checked, for callers that record or show it (admission, `vouch verify-bundle --json`). */
export interface VerificationResult {
  mediaType: string;
  content: 'dsseEnvelope' | 'messageSignature';
  signer: { kind: 'publicKey'; keyId: string; hint: string } | { kind: 'certificate'; identity: string; issuer: string };
  artifact: { algorithm: ArtifactAlgorithm; digest: string; boundBy: 'messageDigest' | 'statementSubject' };
  payloadType?: string;
  statement?: Statement;
  tlogEntries: VerifiedTlogEntry[];
  timestamps: { source: 'transparency-log' | 'timestamp-authority'; time: string }[];
  trustedRoot: 'public-good' | 'given';
  checks: string[];
}

/** A trusted root parsed and turned into keys once, for callers that verify many bundles. */
export class PreparedTrustedRoot {
  readonly root: TrustedRoot;
  readonly material: TrustMaterial;
  readonly source: 'public-good' | 'given';
  constructor(root: TrustedRoot, source: 'public-good' | 'given') {
    this.root = root;
    this.source = source;
    try {
      this.material = toTrustMaterial(root, noKeys);
    } catch (err) {
      throw new VouchError('TRUSTED_ROOT_INVALID', `trusted root: a key or certificate in it cannot be read: ${errorMessage(err)}`);
    }
  }
}

export function prepareTrustedRoot(json: unknown, source = 'trusted root'): PreparedTrustedRoot {
  return new PreparedTrustedRoot(parseTrustedRoot(json, source), 'given');
}

let publicGoodPrepared: PreparedTrustedRoot | undefined;
function publicGood(): PreparedTrustedRoot {
  publicGoodPrepared ??= new PreparedTrustedRoot(publicGoodTrustedRoot(), 'public-good');
  return publicGoodPrepared;
}

const noKeys = (): never => {
  throw new VouchError('VERIFICATION_FAILED', 'the bundle is signed with a long-lived key: verify it with --key');
};

/** Verifies a Sigstore bundle. Returns what was checked; throws VouchError BUNDLE_INVALID or VERIFICATION_FAILED. */
export function verifyBundle(options: VerifyBundleOptions): VerificationResult {
  const now = options.now ?? new Date();
  const checks: string[] = [];
  const fail = (why: string): never => {
    throw new VouchError('VERIFICATION_FAILED', `bundle does not verify: ${why}`, { details: { checked: [...checks] } });
  };

  // 1. shape, sizes and encodings of the untrusted JSON, then the library's own parsing
  checkRawBundle(options.bundle);
  let bundle: Bundle;
  try {
    bundle = bundleFromJSON(options.bundle);
  } catch (err) {
    const fields = (err as { fields?: string[] }).fields;
    throw new VouchError('BUNDLE_INVALID', `not a valid Sigstore bundle: ${errorMessage(err)}${fields?.length ? ` (${fields.join(', ')})` : ''}`);
  }
  checks.push(`bundle: ${bundle.mediaType}, well-formed, within size limits`);

  const trust =
    options.trustedRoot === undefined ? publicGood() : options.trustedRoot instanceof PreparedTrustedRoot ? options.trustedRoot : prepareTrustedRoot(options.trustedRoot);
  checks.push(`trusted root: ${trust.source === 'public-good' ? 'Sigstore public-good (shipped in @sigstore/tuf, offline)' : 'given'}; every log key has a validity start`);

  // 2. the kind of signer must be the one the policy expects
  const vm = bundle.verificationMaterial.content;
  const policy = options.policy;
  if ('publicKey' in policy && vm.$case !== 'publicKey') {
    fail('the bundle is signed with a certificate (keyless), not a long-lived key: verify it with --certificate-identity and --certificate-oidc-issuer');
  }
  if (!('publicKey' in policy) && vm.$case === 'publicKey') {
    fail('the bundle is signed with a long-lived key, not a certificate: verify it with --key');
  }
  if (vm.$case === 'x509CertificateChain') checkChain(vm.x509CertificateChain.certificates.map((c) => c.rawBytes), fail);

  // 3. the artifact: bound by the signed message digest, or by a subject of the signed in-toto statement
  const artifact = artifactDigest(options.artifact);
  let statement: Statement | undefined;
  let payloadType: string | undefined;
  if (bundle.content.$case === 'messageSignature') {
    const md = bundle.content.messageSignature.messageDigest;
    const alg = md?.algorithm === HashAlgorithm.SHA2_256 || md?.algorithm === HashAlgorithm.HASH_ALGORITHM_UNSPECIFIED ? 'sha256' : undefined;
    if (!md || !alg) fail('the bundle signs a message digest that is not sha256');
    const want = artifact.digests.sha256;
    if (!want) fail('the bundle signs a sha256 message digest: give the artifact file or its sha256 digest');
    if (!coreCrypto.bufferEqual(Buffer.from(md.digest), Buffer.from(want!, 'hex'))) {
      fail(`the artifact (sha256:${want!}) is not what was signed (the bundle's message digest is sha256:${Buffer.from(md.digest).toString('hex')})`);
    }
    checks.push(`artifact: sha256:${want!} equals the bundle's message digest`);
  } else {
    const env = bundle.content.dsseEnvelope;
    payloadType = env.payloadType;
    if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE) fail(`the DSSE payload type is ${JSON.stringify(env.payloadType)}, not ${IN_TOTO_PAYLOAD_TYPE}: vouch binds only in-toto statements to artifacts`);
    try {
      statement = parseStatement(Buffer.from(env.payload), 'DSSE payload', { versions: [STATEMENT_TYPE_V1, STATEMENT_TYPE_V01] });
    } catch (err) {
      fail(errorMessage(err));
    }
    const matched = SUBJECT_ALGORITHMS.find((alg) => artifact.digests[alg] !== undefined && subjectMatchesDigest(statement!, alg, artifact.digests[alg]));
    if (!matched) {
      const have = Object.entries(artifact.digests).map(([a, h]) => `${a}:${h}`).join(' / ');
      fail(`no subject of the in-toto statement has the artifact's digest (${have}); subjects: ${describeSubjects(statement!)}`);
    }
    checks.push(`artifact: ${matched!}:${artifact.digests[matched!]!} is a subject of the signed in-toto statement (${statement!._type})`);
  }

  // 4. the library: timestamps, signing key or certificate chain (and SCTs), tlog inclusion (SET and/or proof
  //    against a checkpoint) and body, signature
  let entity: SignedEntity;
  try {
    entity = toSignedEntity(bundle, Buffer.isBuffer(options.artifact) ? options.artifact : undefined);
  } catch (err) {
    throw new VouchError('BUNDLE_INVALID', `not a valid Sigstore bundle: ${errorMessage(err)}`);
  }
  if (bundle.content.$case === 'messageSignature' && !Buffer.isBuffer(options.artifact)) {
    entity.signature = new DigestMessageSignature(Buffer.from(bundle.content.messageSignature.signature), Buffer.from(bundle.content.messageSignature.messageDigest.digest), Buffer.from(artifact.digests.sha256!, 'hex'));
  }
  const policyKey = 'publicKey' in policy ? policy.publicKey : undefined;
  const material: TrustMaterial = {
    ...trust.material,
    publicKey: policyKey ? () => ({ publicKey: policyKey, validFor: () => true }) : noKeys,
  };
  let signer: Signer;
  try {
    signer = new Verifier(material).verify(entity);
  } catch (err) {
    return fail(describeLibraryError(err));
  }
  checks.push('signature: verifies over ' + (bundle.content.$case === 'dsseEnvelope' ? 'the DSSE PAE' : 'the artifact'));

  // 5. who signed
  let signerInfo: VerificationResult['signer'];
  if (policyKey) {
    signerInfo = { kind: 'publicKey', keyId: keyId(policyKey), hint: vm.$case === 'publicKey' ? vm.publicKey.hint : '' };
    checks.push(`signer: the given public key (key id ${signerInfo.keyId})`);
  } else {
    const want = policy as { certificateIdentity: string; certificateIssuer: string };
    const san = signer.identity?.subjectAlternativeName;
    const issuer = signer.identity?.extensions?.issuer;
    if (san !== want.certificateIdentity) fail(`the certificate's identity is ${JSON.stringify(san ?? null)}, not ${JSON.stringify(want.certificateIdentity)}`);
    if (issuer !== want.certificateIssuer) fail(`the certificate's OIDC issuer is ${JSON.stringify(issuer ?? null)}, not ${JSON.stringify(want.certificateIssuer)}`);
    signerInfo = { kind: 'certificate', identity: san!, issuer: issuer! };
    checks.push(`signer: certificate chains to a trusted CA, identity and OIDC issuer equal the expected ones exactly`);
  }

  // 6. times: the log's and the TSA's, none in the future
  const timestamps: VerificationResult['timestamps'] = [];
  const tsaTimes: Date[] = [];
  for (const ts of entity.timestamps) {
    if (ts.$case === 'timestamp-authority') {
      tsaTimes.push(ts.timestamp.signingTime);
      timestamps.push({ source: 'timestamp-authority', time: ts.timestamp.signingTime.toISOString() });
    } else {
      timestamps.push({ source: 'transparency-log', time: new Date(Number(ts.tlogEntry.integratedTime) * 1000).toISOString() });
    }
  }
  const latest = now.getTime() + LIMITS.clockSkewSeconds * 1000;
  for (const t of timestamps) {
    if (Date.parse(t.time) > latest) fail(`a ${t.source} time (${t.time}) is in the future`);
  }
  checks.push(`timestamps: ${timestamps.length} verified, none in the future`);

  // 7. each log entry: trusted log, key valid when logged, checkpoint signed under the log's exact name,
  //    inclusion proof consistent with the checkpoint; a duplicated entry counts once
  const seen = new Set<string>();
  const tlogEntries: VerifiedTlogEntry[] = [];
  for (const entry of bundle.verificationMaterial.tlogEntries) {
    const id = `${Buffer.from(entry.logId.keyId).toString('hex')}:${createHash('sha256').update(entry.canonicalizedBody).digest('hex')}`;
    if (seen.has(id)) continue;
    seen.add(id);
    tlogEntries.push(checkTlogEntry(entry, trust.material, tsaTimes, now, fail));
  }
  for (const e of tlogEntries) {
    const how = [e.inclusionPromise ? 'signed entry timestamp' : '', e.inclusionProof ? `inclusion proof to a checkpoint of size ${e.inclusionProof.treeSize} signed under the log's exact name` : '']
      .filter(Boolean)
      .join(' and ');
    checks.push(`transparency log: ${e.kind} ${e.version} entry #${e.logIndex} in ${e.logBaseUrl}, body matches the bundle, log key valid when logged, ${how}`);
  }

  const result: VerificationResult = {
    mediaType: bundle.mediaType,
    content: bundle.content.$case,
    signer: signerInfo,
    artifact: {
      algorithm: statement ? (SUBJECT_ALGORITHMS.find((a) => artifact.digests[a] !== undefined && subjectMatchesDigest(statement, a, artifact.digests[a])) ?? 'sha256') : 'sha256',
      digest: '',
      boundBy: statement ? 'statementSubject' : 'messageDigest',
    },
    tlogEntries,
    timestamps,
    trustedRoot: trust.source,
    checks,
  };
  result.artifact.digest = artifact.digests[result.artifact.algorithm]!;
  if (payloadType !== undefined) result.payloadType = payloadType;
  if (statement) result.statement = statement;
  return result;
}

// ---- the artifact

type ArtifactAlgorithm = 'sha256' | 'sha512' | 'gitCommit';
const SUBJECT_ALGORITHMS: readonly ArtifactAlgorithm[] = ['sha256', 'sha512', 'gitCommit'];

function artifactDigest(input: ArtifactInput): { digests: { sha256?: string; sha512?: string; gitCommit?: string } } {
  if (Buffer.isBuffer(input)) {
    return { digests: { sha256: createHash('sha256').update(input).digest('hex'), sha512: createHash('sha512').update(input).digest('hex') } };
  }
  // approvals (CONTRACTS.md) are statements about a commit: their subject carries only gitCommit
  if ('gitCommit' in input) {
    if (!/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(input.gitCommit)) throw new VouchError('DIGEST_INVALID', 'artifact commit: expected 40 or 64 lowercase hex digits');
    return { digests: { gitCommit: input.gitCommit } };
  }
  if ('sha256' in input) {
    if (!isSha256Hex(input.sha256)) throw new VouchError('DIGEST_INVALID', 'artifact digest: expected 64 lowercase hex digits of sha256');
    return { digests: { sha256: input.sha256 } };
  }
  if (!/^[0-9a-f]{128}$/.test(input.sha512)) throw new VouchError('DIGEST_INVALID', 'artifact digest: expected 128 lowercase hex digits of sha512');
  return { digests: { sha512: input.sha512 } };
}

function describeSubjects(statement: Statement): string {
  const shown = statement.subject.slice(0, 5).map((s) => `${s.name ?? '(unnamed)'} ${Object.entries(s.digest ?? {}).map(([a, h]) => `${a}:${h.slice(0, 16)}…`).join(',')}`);
  return shown.join('; ') + (statement.subject.length > 5 ? `; and ${statement.subject.length - 5} more` : '');
}

/**
 * A message signature checked against the artifact's digest alone (the conformance protocol's `sha256:<hex>`
 * input). Node's crypto cannot verify a prehashed ECDSA signature, so this uses @noble/curves (P-256, P-384).
 */
class DigestMessageSignature {
  readonly signature: Buffer;
  private readonly bundleDigest: Buffer;
  private readonly digest: Buffer;
  constructor(signature: Buffer, bundleDigest: Buffer, digest: Buffer) {
    this.signature = signature;
    this.bundleDigest = bundleDigest;
    this.digest = digest;
  }
  compareSignature(signature: Buffer): boolean {
    return coreCrypto.bufferEqual(signature, this.signature);
  }
  compareDigest(digest: Buffer): boolean {
    return coreCrypto.bufferEqual(digest, this.bundleDigest) && coreCrypto.bufferEqual(digest, this.digest);
  }
  compareSignedDigest(digest: Buffer): boolean {
    return this.compareDigest(digest);
  }
  verifySignature(key: KeyObject): boolean {
    if (key.asymmetricKeyType !== 'ec') return false;
    const curve = key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? p256 : key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? p384 : undefined;
    if (!curve) return false;
    const jwk = key.export({ format: 'jwk' });
    if (!jwk.x || !jwk.y) return false;
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
    try {
      return curve.verify(this.signature, this.digest, point, { prehash: false, format: 'der', lowS: false });
    } catch {
      return false;
    }
  }
}

// ---- certificates

function checkChain(certs: Uint8Array[], fail: (why: string) => never): void {
  if (certs.length === 0) fail('the certificate chain is empty');
  certs.forEach((der, i) => {
    let cert: X509Certificate;
    try {
      cert = X509Certificate.parse(Buffer.from(der));
    } catch (err) {
      return fail(`certificate ${i} of the chain cannot be parsed: ${errorMessage(err)}`);
    }
    if (i === 0 && cert.isCA) fail('the signing certificate is a CA certificate');
    if (cert.isCA && coreCrypto.bufferEqual(cert.subject, cert.issuer)) {
      fail('the bundle carries a root certificate; roots must come from the trusted root, never from the bundle');
    }
    return undefined;
  });
}

// ---- transparency log entries

function checkTlogEntry(entry: TransparencyLogEntry, material: TrustMaterial, tsaTimes: Date[], now: Date, fail: (why: string) => never): VerifiedTlogEntry {
  const logId = Buffer.from(entry.logId.keyId);
  const logs = material.tlogs.filter((t) => t.logID.equals(logId));
  if (logs.length === 0) fail(`log ${logId.toString('base64')} is not in the trusted root`);
  const integrated = entry.integratedTime && entry.integratedTime !== '0' ? new Date(Number(entry.integratedTime) * 1000) : undefined;
  // When was it logged? Rekor v1 says (integrated time, covered by the SET); a Rekor v2 entry has no time of its
  // own, so the TSA's verified times stand in for it; with neither, the key must be valid now.
  const times = integrated ? [integrated] : tsaTimes.length > 0 ? tsaTimes : [now];
  const valid = logs.filter((t) => times.every((d) => t.validFor.start <= d && d <= t.validFor.end));
  if (valid.length === 0) {
    fail(`the key of log ${logs[0]!.baseURL} was not valid when the entry was logged (${times.map((d) => d.toISOString()).join(', ')}; key valid ${logs[0]!.validFor.start.toISOString()} to ${logs[0]!.validFor.end.getTime() >= 8.64e15 ? 'no end' : logs[0]!.validFor.end.toISOString()})`);
  }
  const result: VerifiedTlogEntry = {
    logId: logId.toString('hex'),
    logBaseUrl: valid[0]!.baseURL,
    logIndex: entry.logIndex,
    kind: entry.kindVersion.kind,
    version: entry.kindVersion.version,
    inclusionPromise: entry.inclusionPromise !== undefined,
  };
  if (integrated) result.integratedTime = integrated.toISOString();

  const proof = entry.inclusionProof;
  if (proof) {
    const envelope = proof.checkpoint?.envelope ?? '';
    if (envelope === '') fail('the inclusion proof has no checkpoint');
    const sep = envelope.indexOf('\n\n');
    if (sep < 0) fail('the checkpoint is not a signed note (no blank line)');
    const note = envelope.slice(0, sep + 1);
    const lines = note.slice(0, -1).split('\n');
    const [origin, size, rootB64] = lines;
    if (lines.length < 3 || !origin || !size || !rootB64) fail('the checkpoint lacks an origin, a size or a root hash');
    if (!/^(0|[1-9][0-9]{0,19})$/.test(size)) fail('the checkpoint size is not a number');
    const root = Buffer.from(rootB64, 'base64');
    if (root.length !== 32 || root.toString('base64') !== rootB64) fail('the checkpoint root hash is not 32 bytes of base64');
    let signed = false;
    for (const line of envelope.slice(sep + 2).split('\n')) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) continue;
      const sig = Buffer.from(m[2]!, 'base64');
      if (sig.length < 5 || sig.toString('base64') !== m[2]) continue;
      signed ||= valid.some(
        (t) => checkpointNamesOf(t.baseURL).includes(m[1]!) && t.logID.subarray(0, 4).equals(sig.subarray(0, 4)) && coreCrypto.verify(Buffer.from(note, 'utf8'), t.publicKey, sig.subarray(4)),
      );
    }
    if (!signed) fail(`the checkpoint carries no valid signature by the trusted log under its exact name (${checkpointNamesOf(valid[0]!.baseURL).map((n) => JSON.stringify(n)).join(' or ')})`);
    if (BigInt(size) !== BigInt(proof.treeSize) || !coreCrypto.bufferEqual(Buffer.from(proof.rootHash), root)) {
      fail("the inclusion proof's tree size or root hash disagrees with its signed checkpoint");
    }
    if (BigInt(proof.logIndex) >= BigInt(proof.treeSize)) fail('the inclusion proof index is outside the tree');
    result.inclusionProof = { treeSize: proof.treeSize, rootHash: Buffer.from(proof.rootHash).toString('hex'), checkpointOrigin: origin };
  }
  return result;
}

// ---- raw JSON checks

const B64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;
const UINT = /^(0|[1-9][0-9]{0,19})$/;

/** Checks the untrusted bundle JSON before any library sees it: media type, sizes, base64 and integers. */
export function checkRawBundle(value: unknown): void {
  const bad = (path: string, why: string): never => {
    throw new VouchError('BUNDLE_INVALID', `not a valid Sigstore bundle: ${path}: ${why}`, { details: { path } });
  };
  const obj = (v: unknown, path: string, required = false): Record<string, unknown> | undefined => {
    if (v === undefined || v === null) return required ? bad(path, 'is missing') : undefined;
    if (typeof v !== 'object' || Array.isArray(v)) return bad(path, 'must be an object');
    return v as Record<string, unknown>;
  };
  const arr = (v: unknown, path: string, max: number): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) return bad(path, 'must be an array');
    if (v.length > max) bad(path, `has ${v.length} items, more than the ${max} allowed`);
    return v;
  };
  const b64 = (v: unknown, path: string, required = false): void => {
    if (v === undefined || v === null) {
      if (required) bad(path, 'is missing');
      return;
    }
    if (typeof v !== 'string') return bad(path, 'must be a base64 string');
    if (v.length > LIMITS.base64Chars) bad(path, `is longer than ${LIMITS.base64Chars} characters`);
    // line breaks are tolerated (as Go's and Python's decoders do: `base64` wraps at 76); nothing else is
    const s = v.replace(/\r?\n/g, '');
    if (!B64.test(s) || (s.includes('=') && s.length % 4 !== 0) || s.length % 4 === 1) bad(path, 'is not valid base64');
  };
  const uint = (v: unknown, path: string): void => {
    if (v === undefined || v === null) return;
    const s = typeof v === 'number' ? String(v) : v;
    if (typeof s !== 'string' || !UINT.test(s)) bad(path, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  };

  const b = obj(value, '(root)', true)!;
  if (typeof b['mediaType'] !== 'string' || !BUNDLE_MEDIA_TYPES.includes(b['mediaType'])) {
    bad('mediaType', `unsupported bundle version ${JSON.stringify(b['mediaType'])}; supported: ${BUNDLE_MEDIA_TYPES.join(', ')}`);
  }
  const ms = obj(b['messageSignature'], 'messageSignature');
  if (ms) {
    b64(obj(ms['messageDigest'], 'messageSignature.messageDigest')?.['digest'], 'messageSignature.messageDigest.digest');
    b64(ms['signature'], 'messageSignature.signature', true);
  }
  const env = obj(b['dsseEnvelope'], 'dsseEnvelope');
  if (env) {
    b64(env['payload'], 'dsseEnvelope.payload', true);
    if (typeof env['payloadType'] !== 'string') bad('dsseEnvelope.payloadType', 'must be a string');
    arr(env['signatures'], 'dsseEnvelope.signatures', 1).forEach((s, i) => {
      b64(obj(s, `dsseEnvelope.signatures[${i}]`, true)!['sig'], `dsseEnvelope.signatures[${i}].sig`, true);
    });
  }
  if (ms && env) bad('(root)', 'has both messageSignature and dsseEnvelope');
  const vm = obj(b['verificationMaterial'], 'verificationMaterial', true)!;
  const chain = obj(vm['x509CertificateChain'], 'verificationMaterial.x509CertificateChain');
  if (chain) {
    arr(chain['certificates'], 'verificationMaterial.x509CertificateChain.certificates', LIMITS.certificates).forEach((c, i) => {
      const at = `verificationMaterial.x509CertificateChain.certificates[${i}]`;
      b64(obj(c, at, true)!['rawBytes'], `${at}.rawBytes`, true);
    });
  }
  const cert = obj(vm['certificate'], 'verificationMaterial.certificate');
  if (cert) b64(cert['rawBytes'], 'verificationMaterial.certificate.rawBytes', true);
  arr(vm['tlogEntries'], 'verificationMaterial.tlogEntries', LIMITS.tlogEntries).forEach((e, i) => {
    const at = `verificationMaterial.tlogEntries[${i}]`;
    const entry = obj(e, at, true)!;
    uint(entry['logIndex'], `${at}.logIndex`);
    uint(entry['integratedTime'], `${at}.integratedTime`);
    b64(obj(entry['logId'], `${at}.logId`)?.['keyId'], `${at}.logId.keyId`);
    b64(entry['canonicalizedBody'], `${at}.canonicalizedBody`);
    b64(obj(entry['inclusionPromise'], `${at}.inclusionPromise`)?.['signedEntryTimestamp'], `${at}.inclusionPromise.signedEntryTimestamp`);
    const proof = obj(entry['inclusionProof'], `${at}.inclusionProof`);
    if (proof) {
      uint(proof['logIndex'], `${at}.inclusionProof.logIndex`);
      uint(proof['treeSize'], `${at}.inclusionProof.treeSize`);
      b64(proof['rootHash'], `${at}.inclusionProof.rootHash`);
      arr(proof['hashes'], `${at}.inclusionProof.hashes`, LIMITS.proofHashes).forEach((h, j) => {
        b64(h, `${at}.inclusionProof.hashes[${j}]`);
      });
      const cp = obj(proof['checkpoint'], `${at}.inclusionProof.checkpoint`);
      const envText = cp?.['envelope'];
      if (envText !== undefined && (typeof envText !== 'string' || envText.length > LIMITS.checkpointChars)) {
        bad(`${at}.inclusionProof.checkpoint.envelope`, `must be a string of at most ${LIMITS.checkpointChars} characters`);
      }
    }
  });
  const tvd = obj(vm['timestampVerificationData'], 'verificationMaterial.timestampVerificationData');
  if (tvd) {
    arr(tvd['rfc3161Timestamps'], 'verificationMaterial.timestampVerificationData.rfc3161Timestamps', LIMITS.timestamps).forEach((t, i) => {
      const at = `verificationMaterial.timestampVerificationData.rfc3161Timestamps[${i}]`;
      b64(obj(t, at, true)!['signedTimestamp'], `${at}.signedTimestamp`, true);
    });
  }
}

// ---- library errors in words a user can act on

const LIBRARY_ERRORS: Record<string, string> = {
  TLOG_INCLUSION_PROOF_ERROR: 'transparency log inclusion proof',
  TLOG_INCLUSION_PROMISE_ERROR: 'transparency log signed entry timestamp (SET)',
  TLOG_MISSING_INCLUSION_ERROR: 'transparency log inclusion',
  TLOG_BODY_ERROR: 'the logged entry does not match the bundle',
  TLOG_ERROR: 'transparency log',
  CERTIFICATE_ERROR: 'signing certificate',
  PUBLIC_KEY_ERROR: 'signing key',
  SIGNATURE_ERROR: 'signature',
  TIMESTAMP_ERROR: 'timestamps',
  UNTRUSTED_SIGNER_ERROR: 'signer',
};

function describeLibraryError(err: unknown): string {
  if (err instanceof VouchError) return err.message.replace(/^bundle does not verify: /, '');
  const code = (err as { code?: unknown }).code;
  const label = typeof code === 'string' ? LIBRARY_ERRORS[code] : undefined;
  const message = errorMessage(err);
  return label ? `${label}: ${message}` : `malformed bundle content: ${message}`;
}
