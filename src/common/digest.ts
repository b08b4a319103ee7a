import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { VouchError } from './errors.ts';

/** A sha256 digest as lowercase hex, without prefix. */
export type Sha256Hex = string;

const SHA256_HEX = /^[0-9a-f]{64}$/;
const PREFIXED = /^sha256:([0-9a-f]{64})$/;

export function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

export function sha256Hex(data: Uint8Array | string): Sha256Hex {
  return createHash('sha256').update(data).digest('hex');
}

/** Streams the file, so large artifacts do not have to fit in memory. */
export async function sha256File(path: string): Promise<Sha256Hex> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new VouchError('IO', `cannot read ${path} to digest it: ${(err as Error).message}`, { cause: err });
  }
  return hash.digest('hex');
}

export function isSha256Hex(value: unknown): value is Sha256Hex {
  return typeof value === 'string' && SHA256_HEX.test(value);
}

/** Parses `sha256:<64 hex>` (the OCI / in-toto form) and returns the hex. */
export function parseSha256Digest(value: string): Sha256Hex {
  const m = PREFIXED.exec(value);
  if (!m) {
    throw new VouchError('DIGEST_INVALID', `not a sha256 digest: expected "sha256:" and 64 lowercase hex digits, got ${JSON.stringify(truncate(value))}`);
  }
  return m[1]!;
}

export function formatSha256Digest(hex: Sha256Hex): string {
  if (!isSha256Hex(hex)) throw new VouchError('DIGEST_INVALID', `not 64 lowercase hex digits: ${JSON.stringify(truncate(hex))}`);
  return `sha256:${hex}`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
