import { isSha256Hex, type Sha256Hex } from '../common/digest.ts';
import { VouchError } from '../common/errors.ts';

// in-toto Statement v1 (https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md): the middle layer of
// an attestation, binding a predicate to subjects by digest. We build v1 only; we read v1 and, because real
// attestations still carry it (npm's publish attestations, older Chains), v0.1, whose shape is the same.

export const STATEMENT_TYPE_V1 = 'https://in-toto.io/Statement/v1';
export const STATEMENT_TYPE_V01 = 'https://in-toto.io/Statement/v0.1';
const READABLE_TYPES: readonly string[] = [STATEMENT_TYPE_V1, STATEMENT_TYPE_V01];

/** Algorithm name to hex digest (in-toto DigestSet). */
export type DigestSet = Record<string, string>;

/** in-toto ResourceDescriptor, as far as a subject uses it. */
export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest?: DigestSet;
  content?: string;
  downloadLocation?: string;
  mediaType?: string;
  annotations?: Record<string, unknown>;
}

/** A subject as vouch writes it: always named, always with a sha256. */
export interface Subject extends ResourceDescriptor {
  name: string;
  digest: DigestSet & { sha256: Sha256Hex };
}

export interface Statement<P extends object = Record<string, unknown>> {
  _type: string;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate?: P;
}

/** Lengths (hex digits) of the digest algorithms in-toto's DigestSet names; others must just be lowercase hex. */
const HEX_LENGTHS: Record<string, number[]> = {
  sha224: [56],
  sha256: [64],
  sha384: [96],
  sha512: [128],
  sha512_224: [56],
  sha512_256: [64],
  sha3_224: [56],
  sha3_256: [64],
  sha3_384: [96],
  sha3_512: [128],
  sha1: [40],
  md5: [32],
  gitCommit: [40, 64],
  gitTree: [40, 64],
  gitBlob: [40, 64],
};
// Algorithms whose values are not hex by definition (in-toto digest set spec: dirHash is "h1:" base64).
const NON_HEX = new Set(['dirHash']);
const HEX = /^[0-9a-f]+$/;
const ALGORITHM = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_SUBJECTS = 10_000;

/** Builds a v1 statement for subjects named and digested by vouch (sha256 required), validating everything. */
export function buildStatement<P extends object>(input: { subjects: { name: string; sha256: Sha256Hex; digest?: DigestSet }[]; predicateType: string; predicate: P }): Statement<P> & { subject: Subject[] } {
  const statement = {
    _type: STATEMENT_TYPE_V1,
    subject: input.subjects.map((s) => ({ name: s.name, digest: { ...s.digest, sha256: s.sha256 } })),
    predicateType: input.predicateType,
    predicate: input.predicate,
  };
  validateStatement(statement, 'statement', { requireSha256: true, requireName: true, versions: [STATEMENT_TYPE_V1] });
  return statement;
}

export interface ValidateStatementOptions {
  /** every subject must carry a sha256 digest (true for what vouch signs) */
  requireSha256?: boolean;
  /** every subject must be named */
  requireName?: boolean;
  /** accepted `_type`s; default v1 and v0.1 */
  versions?: readonly string[];
}

/**
 * Checks an untrusted value against the Statement schema and returns it typed. Errors name the field path
 * (`subject[2].digest.sha256`), so a producer can fix exactly what is wrong.
 */
export function validateStatement(value: unknown, source: string, options: ValidateStatementOptions = {}): Statement {
  const bad = (path: string, why: string): never => {
    throw new VouchError('STATEMENT_INVALID', `${source}: ${path}: ${why}`, { details: { path } });
  };
  if (!isObject(value)) return bad('(root)', 'a statement must be a JSON object');
  const versions = options.versions ?? READABLE_TYPES;
  const type = value['_type'];
  if (typeof type !== 'string') return bad('_type', 'required string is missing');
  if (!versions.includes(type)) return bad('_type', `must be ${versions.map((v) => JSON.stringify(v)).join(' or ')}, got ${JSON.stringify(clip(type))}`);

  const subject = value['subject'];
  if (!Array.isArray(subject)) return bad('subject', 'required array is missing');
  if (subject.length === 0) return bad('subject', 'must name at least one artifact');
  if (subject.length > MAX_SUBJECTS) return bad('subject', `more than ${MAX_SUBJECTS} subjects`);
  subject.forEach((s: unknown, i) => {
    const at = `subject[${i}]`;
    if (!isObject(s)) return bad(at, 'must be an object (a ResourceDescriptor)');
    for (const field of ['name', 'uri', 'content', 'downloadLocation', 'mediaType'] as const) {
      if (s[field] !== undefined && typeof s[field] !== 'string') bad(`${at}.${field}`, 'must be a string');
    }
    if (options.requireName && (typeof s['name'] !== 'string' || s['name'] === '')) bad(`${at}.name`, 'required non-empty string is missing');
    if (s['annotations'] !== undefined && !isObject(s['annotations'])) bad(`${at}.annotations`, 'must be an object');
    const digest = s['digest'];
    if (digest === undefined) return bad(`${at}.digest`, 'required: a subject is matched by digest');
    if (!isObject(digest)) return bad(`${at}.digest`, 'must be an object of algorithm to hex digest');
    const entries = Object.entries(digest);
    if (entries.length === 0) bad(`${at}.digest`, 'must hold at least one digest');
    for (const [alg, hex] of entries) {
      const path = `${at}.digest.${alg}`;
      if (!ALGORITHM.test(alg)) bad(path, 'not a digest algorithm name');
      if (typeof hex !== 'string' || hex === '') {
        bad(path, 'must be a non-empty string');
        continue;
      }
      if (NON_HEX.has(alg)) continue;
      if (!HEX.test(hex)) bad(path, 'must be lowercase hex');
      const lengths = HEX_LENGTHS[alg];
      if (lengths && !lengths.includes(hex.length)) bad(path, `must be ${lengths.join(' or ')} hex digits, got ${hex.length}`);
    }
    if (options.requireSha256 && !isSha256Hex(digest['sha256'])) bad(`${at}.digest.sha256`, 'required: 64 lowercase hex digits');
    return undefined;
  });

  const predicateType = value['predicateType'];
  if (typeof predicateType !== 'string' || predicateType === '') return bad('predicateType', 'required string is missing');
  if (!isUri(predicateType)) return bad('predicateType', `must be a URI (TypeURI), got ${JSON.stringify(clip(predicateType))}`);
  const predicate = value['predicate'];
  if (predicate !== undefined && !isObject(predicate)) return bad('predicate', 'must be a JSON object');
  return value as unknown as Statement;
}

/** Parses the bytes of a DSSE payload as a statement. */
export function parseStatement(payload: Buffer | string, source: string, options: ValidateStatementOptions = {}): Statement {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch (err) {
    throw new VouchError('STATEMENT_INVALID', `${source}: not JSON: ${(err as Error).message}`);
  }
  return validateStatement(value, source, options);
}

/** True when some subject carries this sha256 digest. */
export function subjectMatches(statement: Statement, sha256: Sha256Hex): boolean {
  return subjectMatchesDigest(statement, 'sha256', sha256);
}

/** True when some subject carries `hex` under `algorithm` (hex compared case-insensitively). */
export function subjectMatchesDigest(statement: Statement, algorithm: string, hex: string): boolean {
  const want = hex.toLowerCase();
  return statement.subject.some((s) => typeof s.digest?.[algorithm] === 'string' && s.digest[algorithm].toLowerCase() === want);
}

/** Serializes a statement as the DSSE payload vouch signs. */
export function statementBytes(statement: Statement): Buffer {
  return Buffer.from(JSON.stringify(statement), 'utf8');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// TypeURI: an RFC 3986 URI with a scheme (https://…, pkg:…, urn:…).
function isUri(s: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\S+$/.test(s)) return false;
  try {
    new URL(s);
    return true;
  } catch {
    return false;
  }
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
