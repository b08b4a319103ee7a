import type { KeyObject } from 'node:crypto';
import { bundleToJSON, type Bundle, type SerializedBundle } from '@sigstore/bundle';
import { DSSEBundleBuilder, MessageSignatureBundleBuilder, RekorWitness, type Signer, type Witness } from '@sigstore/sign';
import { errorMessage, VouchError } from '../common/errors.ts';
import { IN_TOTO_PAYLOAD_TYPE, preAuthEncoding } from './dsse.ts';
import { keyId, publicKeyOf, publicKeyPem, signBytes } from './keys.ts';
import { statementBytes, validateStatement, STATEMENT_TYPE_V1, type Statement } from './statement.ts';
import { verifyBundle, type ArtifactInput, type VerificationResult } from './verify.ts';

// Signing: an in-toto statement into a DSSE envelope (signed by a long-lived ECDSA P-256 key), logged by a witness
// (Rekor's REST API, or one the caller plugs in, e.g. the embedded log in-process), packed as a Sigstore bundle
// v0.3 by @sigstore/sign. The witness trusts whatever the log answers, so the bundle is verified here before it is
// handed out whenever the log's key is known.

export interface RekorWitnessOptions {
  /** base URL of a Rekor v1 compatible log, e.g. https://rekor.sigstore.dev */
  rekorBaseURL: string;
  entryType?: 'dsse' | 'intoto';
  /** per request, ms */
  timeout?: number;
  /** retries on 408/429/5xx and network errors */
  retry?: number;
}

/** A witness that logs through Rekor's REST API; a 409 (already logged) fetches the existing entry. */
export function rekorWitness(options: RekorWitnessOptions): Witness {
  return new RekorWitness({
    rekorBaseURL: options.rekorBaseURL.replace(/\/+$/, ''),
    entryType: options.entryType ?? 'dsse',
    fetchOnConflict: true,
    timeout: options.timeout ?? 30_000,
    retry: options.retry ?? 2,
  });
}

export interface SignStatementOptions {
  statement: Statement<object>;
  privateKey: KeyObject;
  /** who logs the envelope: rekorWitness(...) or an in-process log */
  witness: Witness;
  /** the log's trusted root (JSON or prepared): when given, the bundle is verified before it is returned */
  logTrustedRoot?: unknown;
}

export interface SignedStatement {
  bundle: Bundle;
  /** the bundle as JSON (Sigstore bundle v0.3), ready to write */
  json: SerializedBundle;
  keyId: string;
  /** present when the log's trusted root was given: what verifying the fresh bundle checked */
  verification?: VerificationResult;
}

/** A statement's exact bytes and the signature over their DSSE PAE: what a caller may keep before logging. */
export interface SignedPayload {
  payload: Buffer;
  signature: Buffer;
}

/** Signs a statement (validated first: every subject needs a name and a sha256), logs it, returns the bundle. */
export async function signStatement(options: SignStatementOptions): Promise<SignedStatement> {
  return logSignedPayload({ ...options, signed: signPayload(options.statement, options.privateKey) });
}

/**
 * Validates and serialises a statement and signs its DSSE PAE, without logging it. ECDSA signatures differ on every
 * call, so a caller that must be able to retry logging without creating a second log entry (the sidecar, across
 * crashes) keeps this result durably and hands the same bytes to logSignedPayload on every attempt.
 */
export function signPayload(statement: unknown, privateKey: KeyObject): SignedPayload {
  const valid = validateStatement(statement, 'statement', { requireSha256: true, requireName: true, versions: [STATEMENT_TYPE_V1] });
  if (privateKey.type !== 'private') throw new VouchError('KEY_INVALID', 'signing needs a private key');
  const payload = statementBytes(valid);
  return { payload, signature: signBytes(privateKey, preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload)) };
}

export interface LogSignedPayloadOptions {
  signed: SignedPayload;
  /** the signer's key (its public half is what the bundle names and the log checks the signature with); a public
   *  key is enough when the signature was made elsewhere (a reviewer's approval the sidecar logs) */
  privateKey: KeyObject;
  witness: Witness;
  logTrustedRoot?: unknown;
}

/**
 * Logs an envelope of already signed bytes and packs the Sigstore bundle; the same bytes logged twice give the
 * existing entry (409), not a second one. With the log's trusted root, the bundle is verified before it is returned.
 */
export async function logSignedPayload(options: LogSignedPayloadOptions): Promise<SignedStatement> {
  const { payload, signature } = options.signed;
  const signer = journaledSigner(preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload), signature, options.privateKey);
  return finishBundle(options, () => new DSSEBundleBuilder({ signer, witnesses: [options.witness] }).create({ data: payload, type: IN_TOTO_PAYLOAD_TYPE }), () => {
    // bound by the first subject's sha256, or its git commit (a statement about a commit, e.g. an approval)
    const statement = validateStatement(JSON.parse(payload.toString('utf8')), 'signed statement', { requireName: true });
    const digest = statement.subject[0]?.digest ?? {};
    if (digest['sha256'] !== undefined) return { sha256: digest['sha256'] };
    if (digest['gitCommit'] !== undefined) return { gitCommit: digest['gitCommit'] };
    throw new VouchError('STATEMENT_INVALID', 'signed statement: subject[0] has neither a sha256 nor a gitCommit digest');
  });
}

/**
 * Signs bytes as they are (no DSSE): a message signature, e.g. cosign's simple signing payload for an image. Like
 * signPayload, the result is what a caller keeps durably before logging it with logSignedMessage.
 */
export function signMessage(message: Buffer, privateKey: KeyObject): SignedPayload {
  if (privateKey.type !== 'private') throw new VouchError('KEY_INVALID', 'signing needs a private key');
  if (message.length === 0) throw new VouchError('INPUT_INVALID', 'nothing to sign: the message is empty');
  return { payload: message, signature: signBytes(privateKey, message) };
}

/**
 * Logs a message signature (a Rekor hashedrekord entry over sha256 of the message) and packs the Sigstore bundle;
 * the same signature logged twice gives the existing entry. With the log's trusted root, the bundle is verified first.
 */
export async function logSignedMessage(options: LogSignedPayloadOptions): Promise<SignedStatement> {
  const { payload, signature } = options.signed;
  const signer = journaledSigner(payload, signature, options.privateKey);
  return finishBundle(options, () => new MessageSignatureBundleBuilder({ signer, witnesses: [options.witness] }).create({ data: payload }), () => payload);
}

/** A Signer that hands out a signature made (and kept) earlier, for exactly the bytes it was made over. */
function journaledSigner(signed: Buffer, signature: Buffer, privateKey: KeyObject): Signer {
  const hint = keyId(privateKey);
  const publicKey = publicKeyPem(privateKey);
  return {
    sign: (data: Buffer) =>
      data.equals(signed)
        ? Promise.resolve({ signature, key: { $case: 'publicKey', publicKey, hint } })
        : Promise.reject(new VouchError('INTERNAL', 'the bundle builder asked to sign other bytes than the signed ones')),
  };
}

async function finishBundle(options: LogSignedPayloadOptions, build: () => Promise<Bundle>, artifact: () => ArtifactInput): Promise<SignedStatement> {
  let bundle: Bundle;
  try {
    bundle = await build();
  } catch (err) {
    throw logError(err);
  }
  let json: SerializedBundle;
  try {
    json = bundleToJSON(bundle);
  } catch (err) {
    throw new VouchError('TLOG_REJECTED', `the log's answer cannot be put in a bundle: ${errorMessage(err)}`);
  }
  const result: SignedStatement = { bundle, json, keyId: keyId(options.privateKey) };
  if (options.logTrustedRoot !== undefined) {
    try {
      result.verification = verifyBundle({
        bundle: json,
        artifact: artifact(),
        policy: { publicKey: publicKeyOf(options.privateKey) },
        trustedRoot: options.logTrustedRoot,
      });
    } catch (err) {
      throw new VouchError('TLOG_REJECTED', `the log's answer does not verify against its trusted root, so no bundle was written: ${errorMessage(err)}`, { cause: err });
    }
  }
  return result;
}

/** Maps @sigstore/sign's errors (InternalError with an HTTPError cause) to ours. */
function logError(err: unknown): VouchError {
  if (err instanceof VouchError) return err;
  const e = err as { code?: string; cause?: { statusCode?: number; message?: string } };
  const status = e.cause?.statusCode;
  const detail = e.cause?.message ?? errorMessage(err);
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return new VouchError('TLOG_REJECTED', `the transparency log rejected the entry (HTTP ${status}): ${detail}`, { cause: err });
  }
  return new VouchError('TLOG_UNAVAILABLE', `cannot log the signature: ${detail}${e.code ? ` [${e.code}]` : ''}`, { cause: err });
}
