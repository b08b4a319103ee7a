import type { KeyObject } from 'node:crypto';
import { json } from '@sigstore/core';
import { signBytes, verifyBytes } from '../attest/keys.ts';

// What the log signs: signed entry timestamps (SETs) and checkpoints (signed notes).
//
// SET (Rekor v1): ECDSA-SHA256 signature (DER, base64) over the RFC 8785 canonical JSON of
//   {"body": <base64 canonical body>, "integratedTime": <int>, "logID": <hex>, "logIndex": <int>}.
//
// Checkpoint (https://github.com/transparency-dev/formats/blob/main/log/README.md, as Rekor v1 writes it):
//   <origin>\n<tree size>\n<base64 root hash>\n          <- the note body; the signature covers exactly these bytes
//   \n
//   — <name> <base64(key hint[4] || DER signature)>\n   <- "—" is U+2014 EM DASH
// origin is "<name> - <tree ID>" (Rekor: "rekor.sigstore.dev - 1193050959916656506"); the key hint is the first four
// bytes of the log ID (sha256 of the log key's SPKI DER). The signer name must contain no whitespace, and
// @sigstore/verify 4.x accepts a checkpoint only when the name is a substring of the trusted root's tlog baseUrl
// (dist/tlog/checkpoint.js: `tlog.baseURL.includes(signature.name)`). So a log named "localhost" verifies under a
// trusted root whose baseUrl is e.g. "http://localhost:3000"; trusted-root.ts enforces that rule.

export interface SetPayload {
  body: string;
  integratedTime: number;
  logID: string;
  logIndex: number;
}

export function setBytes(p: SetPayload): Buffer {
  return Buffer.from(json.canonicalize({ body: p.body, integratedTime: p.integratedTime, logID: p.logID, logIndex: p.logIndex }), 'utf8');
}

export function signSet(key: KeyObject, p: SetPayload): string {
  return signBytes(key, setBytes(p)).toString('base64');
}

export function verifySet(publicKey: KeyObject, p: SetPayload, set: string): boolean {
  return verifyBytes(publicKey, setBytes(p), Buffer.from(set, 'base64'));
}

const NAME = /^\S+$/;

export function isValidLogName(name: string): boolean {
  return NAME.test(name) && !name.includes('\u2014');
}

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  /** extra note lines after the root hash (none from this log) */
  rest: string[];
}

export function checkpointBody(origin: string, size: number, rootHash: Uint8Array): string {
  return `${origin}\n${size}\n${Buffer.from(rootHash).toString('base64')}\n`;
}

export function signCheckpoint(key: KeyObject, logId: Uint8Array, name: string, origin: string, size: number, rootHash: Uint8Array): string {
  const body = checkpointBody(origin, size, rootHash);
  const sig = signBytes(key, Buffer.from(body, 'utf8'));
  const hint = Buffer.from(logId).subarray(0, 4);
  return `${body}\n\u2014 ${name} ${Buffer.concat([hint, sig]).toString('base64')}\n`;
}

export interface NoteSignature {
  name: string;
  keyHint: Buffer;
  signature: Buffer;
}

/** Splits a signed note into its body and signature lines; undefined when it is not one. */
export function parseSignedNote(text: string): { body: string; signatures: NoteSignature[] } | undefined {
  const split = text.indexOf('\n\n');
  if (split < 0) return undefined;
  const body = text.slice(0, split + 1);
  const sigText = text.slice(split + 2);
  if (!sigText.endsWith('\n')) return undefined;
  const signatures: NoteSignature[] = [];
  for (const line of sigText.slice(0, -1).split('\n')) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
    if (!m) return undefined;
    const bytes = Buffer.from(m[2]!, 'base64');
    if (bytes.length < 5) return undefined;
    signatures.push({ name: m[1]!, keyHint: bytes.subarray(0, 4), signature: bytes.subarray(4) });
  }
  return signatures.length > 0 ? { body, signatures } : undefined;
}

export function parseCheckpointBody(body: string): Checkpoint | undefined {
  if (!body.endsWith('\n')) return undefined;
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) return undefined;
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin === '' || !/^(0|[1-9][0-9]*)$/.test(sizeText)) return undefined;
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) return undefined;
  const rootHash = Buffer.from(rootText, 'base64');
  if (rootHash.length !== 32 || rootHash.toString('base64') !== rootText) return undefined;
  return { origin, size, rootHash, rest: lines.slice(3) };
}

/**
 * Verifies a signed checkpoint of this log: a signature by `name` whose key hint is logId[0:4] must verify with
 * `publicKey`, and the origin must be `expectedOrigin` when given. Returns the checkpoint, or undefined.
 */
export function verifyCheckpoint(text: string, publicKey: KeyObject, logId: Uint8Array, name: string, expectedOrigin?: string): Checkpoint | undefined {
  const note = parseSignedNote(text);
  if (!note) return undefined;
  const hint = Buffer.from(logId).subarray(0, 4);
  const ok = note.signatures.some((s) => s.name === name && s.keyHint.equals(hint) && verifyBytes(publicKey, Buffer.from(note.body, 'utf8'), s.signature));
  if (!ok) return undefined;
  const cp = parseCheckpointBody(note.body);
  if (!cp) return undefined;
  if (expectedOrigin !== undefined && cp.origin !== expectedOrigin) return undefined;
  return cp;
}
