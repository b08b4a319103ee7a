// The SLSA Provenance v1 JSON Schema that Enterprise Contract checks attestations with (conforma/cli
// pkg/schema/slsa_provenance_v1.json, `builtin.attestation.syntax_check`), as code: the sidecar must not sign a
// statement that EC would reject, and ajv is only a test dependency. test/attest/provenance-schema.test.ts checks
// this function against ajv running the schema itself on valid and broken statements.

const DIGEST_ALGORITHMS = new Set([
  'sha256', 'sha224', 'sha384', 'sha512', 'sha512_224', 'sha512_256', 'sha3_224', 'sha3_256', 'sha3_384', 'sha3_512',
  'shake128', 'shake256', 'blake2b', 'blake2s', 'ripemd160', 'sm3', 'gost', 'sha1', 'md5', 'gitCommit',
]);
const STATEMENT_TYPES = new Set(['https://in-toto.io/Statement/v1', 'https://in-toto.io/Statement/v0.1']);
const HEX = /^[a-f0-9]+$/;
// RFC 3339 date-time (ajv-formats "date-time": a time zone is required), and the schema's own `Z$`.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

type Problems = string[];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function digestSet(v: unknown, at: string, out: Problems): void {
  if (!isObject(v)) {
    out.push(`${at}: must be an object`);
    return;
  }
  for (const [alg, hex] of Object.entries(v)) {
    if (!DIGEST_ALGORITHMS.has(alg)) out.push(`${at}: algorithm ${JSON.stringify(alg)} is not one the schema allows`);
    if (typeof hex !== 'string') out.push(`${at}/${alg}: must be a string`);
    else if (!HEX.test(hex)) out.push(`${at}/${alg}: must be lowercase hex`);
  }
}

function resourceDescriptor(v: unknown, at: string, out: Problems): void {
  if (!isObject(v)) {
    out.push(`${at}: must be an object`);
    return;
  }
  for (const field of ['uri', 'name', 'downloadLocation', 'mediaType', 'content']) {
    if (v[field] !== undefined && typeof v[field] !== 'string') out.push(`${at}/${field}: must be a string`);
  }
  if (v['digest'] !== undefined) digestSet(v['digest'], `${at}/digest`, out);
  if (v['annotations'] !== undefined && !isObject(v['annotations'])) out.push(`${at}/annotations: must be an object`);
}

function descriptorList(v: unknown, at: string, out: Problems): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) {
    out.push(`${at}: must be an array`);
    return;
  }
  v.forEach((rd: unknown, i) => { resourceDescriptor(rd, `${at}/${i}`, out); });
}

/** ajv-formats' "uri": an absolute URI (scheme required), no whitespace. */
function isUri(s: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$/.test(s) && URL.canParse(s);
}

function timestamp(v: unknown, at: string, out: Problems): void {
  if (v === undefined) return;
  if (typeof v !== 'string' || !DATE_TIME.test(v) || Number.isNaN(Date.parse(v.replace(' ', 'T')))) out.push(`${at}: must be an RFC 3339 date-time`);
  else if (!v.endsWith('Z')) out.push(`${at}: must be in UTC (end with Z)`);
}

/** What the SLSA v1 schema rejects in `statement`, as `/json/pointer: why`; empty when it validates. */
export function checkProvenanceSchema(statement: unknown): string[] {
  const out: Problems = [];
  if (!isObject(statement)) return ['(root): must be an object'];
  if (!STATEMENT_TYPES.has(statement['_type'] as string)) out.push('/_type: must be https://in-toto.io/Statement/v1 (or v0.1)');
  const subject = statement['subject'];
  if (subject === undefined) out.push('/subject: is required (at least one subject)');
  else if (!Array.isArray(subject)) out.push('/subject: must be an array');
  else {
    if (subject.length === 0) out.push('/subject: must have at least one item');
    subject.forEach((s: unknown, i) => {
      if (!isObject(s)) {
        out.push(`/subject/${i}: must be an object`);
        return;
      }
      if (typeof s['name'] !== 'string' || s['name'] === '') out.push(`/subject/${i}/name: must be a non-empty string`);
      if (s['digest'] === undefined) out.push(`/subject/${i}/digest: is required`);
      else digestSet(s['digest'], `/subject/${i}/digest`, out);
    });
  }
  if (statement['predicateType'] !== undefined && statement['predicateType'] !== 'https://slsa.dev/provenance/v1') out.push('/predicateType: must be https://slsa.dev/provenance/v1');
  const predicate = statement['predicate'];
  if (!isObject(predicate)) {
    out.push(predicate === undefined ? '/predicate: is required' : '/predicate: must be an object');
    return out;
  }
  const bd = predicate['buildDefinition'];
  if (!isObject(bd)) out.push('/predicate/buildDefinition: is required and must be an object');
  else {
    if (typeof bd['buildType'] !== 'string' || bd['buildType'] === '') out.push('/predicate/buildDefinition/buildType: must be a non-empty string');
    if (!isObject(bd['externalParameters'])) out.push('/predicate/buildDefinition/externalParameters: is required and must be an object');
    if (bd['internalParameters'] !== undefined && !isObject(bd['internalParameters'])) out.push('/predicate/buildDefinition/internalParameters: must be an object');
    descriptorList(bd['resolvedDependencies'], '/predicate/buildDefinition/resolvedDependencies', out);
  }
  const rd = predicate['runDetails'];
  if (!isObject(rd)) out.push('/predicate/runDetails: is required and must be an object');
  else {
    const builder = rd['builder'];
    if (!isObject(builder)) out.push('/predicate/runDetails/builder: is required and must be an object');
    else {
      if (typeof builder['id'] !== 'string' || !isUri(builder['id'])) out.push('/predicate/runDetails/builder/id: must be a URI');
      descriptorList(builder['builderDependencies'], '/predicate/runDetails/builder/builderDependencies', out);
      if (builder['version'] !== undefined && !isObject(builder['version'])) out.push('/predicate/runDetails/builder/version: must be an object');
    }
    const metadata = rd['metadata'];
    if (metadata !== undefined) {
      if (!isObject(metadata)) out.push('/predicate/runDetails/metadata: must be an object');
      else {
        if (metadata['invocationId'] !== undefined && (typeof metadata['invocationId'] !== 'string' || metadata['invocationId'] === '')) out.push('/predicate/runDetails/metadata/invocationId: must be a non-empty string');
        timestamp(metadata['startedOn'], '/predicate/runDetails/metadata/startedOn', out);
        timestamp(metadata['finishedOn'], '/predicate/runDetails/metadata/finishedOn', out);
      }
    }
    descriptorList(rd['byproducts'], '/predicate/runDetails/byproducts', out);
  }
  return out;
}
