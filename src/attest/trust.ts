import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { errorMessage, VouchError } from '../common/errors.ts';

// Sigstore trusted roots (dev.sigstore.trustroot.v1.TrustedRoot): parsing untrusted ones strictly, the public-good
// root that ships inside @sigstore/tuf (offline: verification never fetches TUF), and how a log's names are read.

export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';
const MEDIA_TYPES = [TRUSTED_ROOT_MEDIA_TYPE, 'application/vnd.dev.sigstore.trustedroot.v0.1+json', 'application/vnd.dev.sigstore.trustedroot.v0.2+json'];
export const MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024;
const MAX_AUTHORITIES = 256;

/**
 * Checks an untrusted trusted root and returns it parsed. Beyond what @sigstore/protobuf-specs checks (nothing), it
 * requires what the spec requires and the library silently defaults: every log key and authority has a validity
 * start (a missing start would otherwise mean "valid since 1970"), key bytes, and a log id.
 */
export function parseTrustedRoot(value: unknown, source: string): TrustedRoot {
  const bad = (why: string): never => {
    throw new VouchError('TRUSTED_ROOT_INVALID', `${source}: not a usable Sigstore trusted root: ${why}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad('expected a JSON object');
  const raw = value as Record<string, unknown>;
  if (typeof raw['mediaType'] !== 'string' || !MEDIA_TYPES.includes(raw['mediaType'])) {
    return bad(`mediaType must be one of ${MEDIA_TYPES.join(', ')}, got ${JSON.stringify(raw['mediaType'])}`);
  }
  for (const section of ['tlogs', 'ctlogs', 'certificateAuthorities', 'timestampAuthorities']) {
    const list = raw[section];
    if (list === undefined) continue;
    if (!Array.isArray(list)) return bad(`${section} must be an array`);
    if (list.length > MAX_AUTHORITIES) return bad(`${section} has more than ${MAX_AUTHORITIES} entries`);
  }
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(value);
  } catch (err) {
    return bad(errorMessage(err));
  }
  root.tlogs.forEach((log, i) => {
    const at = `tlogs[${i}] (${log.baseUrl || 'no baseUrl'})`;
    if (!log.publicKey?.rawBytes || log.publicKey.rawBytes.length === 0) bad(`${at}: publicKey.rawBytes is missing`);
    if (!log.publicKey?.validFor?.start) bad(`${at}: publicKey.validFor.start is missing (a log key must say since when it is trusted)`);
    if (!log.logId?.keyId || log.logId.keyId.length === 0) bad(`${at}: logId.keyId is missing`);
  });
  root.ctlogs.forEach((log, i) => {
    const at = `ctlogs[${i}] (${log.baseUrl || 'no baseUrl'})`;
    if (!log.publicKey?.rawBytes || log.publicKey.rawBytes.length === 0) bad(`${at}: publicKey.rawBytes is missing`);
    if (!log.publicKey?.validFor?.start) bad(`${at}: publicKey.validFor.start is missing`);
  });
  for (const [section, list] of [['certificateAuthorities', root.certificateAuthorities], ['timestampAuthorities', root.timestampAuthorities]] as const) {
    list.forEach((ca, i) => {
      if (!ca.validFor?.start) bad(`${section}[${i}] (${ca.uri || 'no uri'}): validFor.start is missing`);
      if (!ca.certChain || ca.certChain.certificates.length === 0) bad(`${section}[${i}]: certChain is empty`);
    });
  }
  return root;
}

/** Reads and parses a trusted root file (size-bounded). */
export function loadTrustedRoot(path: string): TrustedRoot {
  return parseTrustedRoot(readJsonFile(path, MAX_TRUSTED_ROOT_BYTES, 'TRUSTED_ROOT_INVALID', 'trusted root'), path);
}

let publicGood: TrustedRoot | undefined;

/**
 * The Sigstore public-good trusted root as shipped in @sigstore/tuf's seeds.json (the TUF target
 * trusted_root.json, base64 or JSON). Offline by design: whatever that package version carries.
 */
export function publicGoodTrustedRoot(): TrustedRoot {
  if (publicGood) return publicGood;
  const require = createRequire(import.meta.url);
  let seeds: Record<string, { targets?: Record<string, unknown> }>;
  try {
    seeds = JSON.parse(readFileSync(require.resolve('@sigstore/tuf/seeds.json'), 'utf8')) as typeof seeds;
  } catch (err) {
    throw new VouchError('INTERNAL', `cannot read the public-good trusted root from @sigstore/tuf: ${errorMessage(err)}`);
  }
  const repo = seeds['https://tuf-repo-cdn.sigstore.dev'] ?? Object.values(seeds)[0];
  const target = repo?.targets?.['trusted_root.json'];
  let value: unknown = target;
  if (typeof target === 'string') {
    const text = target.trimStart().startsWith('{') ? target : Buffer.from(target, 'base64').toString('utf8');
    value = JSON.parse(text);
  }
  publicGood = parseTrustedRoot(value, '@sigstore/tuf seeds.json trusted_root.json');
  return publicGood;
}

/**
 * The names under which a log may sign its checkpoints, compared exactly (never as a substring, unlike
 * @sigstore/verify): the host of its base URL with the port when it has one, or without it. Rekor uses the host
 * ("rekor.sigstore.dev", "localhost:8000" in the conformance suite's private log).
 */
export function checkpointNamesOf(baseUrl: string): string[] {
  try {
    const url = new URL(baseUrl);
    return [...new Set([url.host, url.hostname])].filter((n) => n !== '');
  } catch {
    return [];
  }
}

/** Reads a JSON file no larger than `limit` bytes; errors carry `code` and say which file and why. */
export function readJsonFile(path: string, limit: number, code: 'BUNDLE_INVALID' | 'TRUSTED_ROOT_INVALID' | 'INPUT_INVALID', what: string): unknown {
  let text: Buffer;
  try {
    const size = statSync(path).size;
    if (size > limit) throw new VouchError(code, `${path}: ${what} is ${size} bytes, more than the ${limit} allowed`);
    text = readFileSync(path);
  } catch (err) {
    if (err instanceof VouchError) throw err;
    throw new VouchError('IO', `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  if (text.length > limit) throw new VouchError(code, `${path}: ${what} is ${text.length} bytes, more than the ${limit} allowed`);
  try {
    return JSON.parse(text.toString('utf8'));
  } catch (err) {
    throw new VouchError(code, `${path}: ${what} is not valid JSON (${errorMessage(err)})`);
  }
}
