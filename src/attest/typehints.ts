// Tekton Chains' type hinting, rule for rule as `slsa/v2alpha4` applies it (tektoncd/chains pkg/artifacts and
// pkg/chains/formats/slsa/{extract,internal/material,internal/results,internal/artifact}): which results name the
// artifacts a run built (subjects), which name its inputs (resolvedDependencies), and which are byproducts.
//
// Where Chains drops an invalid hint with a log line, we return a warning instead, so a mistyped result never
// silently disappears from the evidence. Warnings never change what goes into the statement: that stays Chains'.
//
// Image references are parsed with go-containerregistry's rules (pkg/name, non-strict): `abc` is
// `index.docker.io/library/abc`, `docker.io` is `index.docker.io`, a tag before the digest is dropped, and the
// registry part is the first path segment only when it contains `.` or `:`.

/** A TaskRun/PipelineRun result or a step result: `value` is a string, an array of strings or an object of strings. */
export interface ResultLike {
  readonly name: string;
  readonly value?: unknown;
}

/** in-toto DigestSet: algorithm to hex. */
export type DigestSet = Record<string, string>;

/** A subject (name) or a material (uri), with its digests; the unit Chains deduplicates. */
export interface Artifact {
  name: string;
  digest: DigestSet;
}

export type ProvenanceWarningCode =
  /** a result is named like a type hint but its value is unusable (Chains logs and drops it) */
  | 'TYPE_HINT_INVALID'
  /** a valid-looking hint that slsa/v2alpha4 does not use (kept as a byproduct, not a subject) */
  | 'TYPE_HINT_IGNORED'
  /** a childReference of the PipelineRun whose TaskRun was not given to the builder */
  | 'CHILD_TASKRUN_MISSING'
  /** a given TaskRun that cannot be tied to a pipeline task of this PipelineRun, or belongs to another one */
  | 'CHILD_TASKRUN_UNMATCHED'
  /** a child TaskRun without completionTime: Chains ignores it, so do we */
  | 'CHILD_TASKRUN_INCOMPLETE'
  /** a step or sidecar without imageID (it never started) or whose imageID has no digest: no resolved dependency for it */
  | 'STEP_IMAGE_UNKNOWN'
  /** the run has no completionTime yet */
  | 'RUN_NOT_FINISHED'
  /** no subject found: the statement has none (in-toto and the SLSA schema require one; do not sign it) */
  | 'NO_SUBJECTS'
  /** the statement breaks the SLSA v1 JSON Schema Enterprise Contract checks (e.g. a non-hex refSource digest): do not sign it */
  | 'SCHEMA_INVALID';

export interface ProvenanceWarning {
  code: ProvenanceWarningCode;
  /** where the problem is, e.g. `TaskRun build-x step push result IMAGE_URL` */
  where: string;
  message: string;
}

export type Warn = (code: ProvenanceWarningCode, where: string, message: string) => void;

export const ARTIFACT_OUTPUTS = 'ARTIFACT_OUTPUTS';
export const ARTIFACT_INPUTS = 'ARTIFACT_INPUTS';
export const IMAGE_URL = 'IMAGE_URL';
export const IMAGE_DIGEST = 'IMAGE_DIGEST';
export const IMAGES = 'IMAGES';
export const ARTIFACT_URI = 'ARTIFACT_URI';
export const ARTIFACT_DIGEST = 'ARTIFACT_DIGEST';
export const CHAINS_GIT_COMMIT = 'CHAINS-GIT_COMMIT';
export const CHAINS_GIT_URL = 'CHAINS-GIT_URL';

// ---- values ----------------------------------------------------------------------------------------------------

/** Go's ParamValue.StringVal: the string, or "" for arrays and objects. */
export function stringVal(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Go's ParamValue.ObjectVal: the object of strings, or undefined for strings and arrays. */
export function objectVal(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') return undefined;
    out[k] = v;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === undefined) return 'no value';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${clip(JSON.stringify(value))}`;
}

function clip(s: string): string {
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/**
 * Go's json.Marshal of a result value, byte for byte: object keys sorted, no spaces, and `<`, `>`, `&`, U+2028 and
 * U+2029 escaped as \u003c, \u003e, \u0026, \u2028, \u2029 (Go's HTML-safe default). Byproduct `content` is base64 of this.
 */
export function goJsonMarshal(value: unknown): string {
  // Go replaces invalid UTF-8 (here: lone surrogates) with U+FFFD; it writes \b and \f like JSON.stringify (Go >= 1.22).
  const fix = (s: string): string => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
  const sorted = (v: unknown): unknown => {
    if (typeof v === 'string') return fix(v);
    if (Array.isArray(v)) return v.map(sorted);
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort(byUtf8)) out[fix(k)] = sorted((v as Record<string, unknown>)[k]);
      return out;
    }
    return v;
  };
  const json = JSON.stringify(sorted(value)) ?? 'null';
  // These characters occur only inside JSON strings, so escaping them in the text is exact.
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// Go sorts map keys by their UTF-8 bytes.
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

// ---- digests ---------------------------------------------------------------------------------------------------

// go-digest's available algorithms (Chains imports crypto/sha256 and crypto/sha512) and Chains' own sha1 case.
const HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128, sha1: 40 };

/** Chains' artifacts.ParseDigest: `alg:hex`, algorithm case-insensitive, hex lowercase of the algorithm's length. */
export function parseDigest(value: string): { algorithm: string; hex: string } | { error: string } {
  const parts = value.split(':');
  if (parts.length !== 2) return { error: `digest ${JSON.stringify(clip(value))} is not in the form <algorithm>:<hex>` };
  const algorithm = parts[0]!.trim().toLowerCase();
  const hex = parts[1]!.trim();
  const length = HEX_LENGTH[algorithm];
  if (length === undefined) return { error: `unsupported digest algorithm in ${JSON.stringify(clip(value))} (sha256, sha384, sha512 or sha1)` };
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    return { error: `${algorithm} digest ${JSON.stringify(clip(value))} must be ${length} lowercase hex digits` };
  }
  return { algorithm, hex };
}

// ---- image references (go-containerregistry pkg/name) -------------------------------------------------------------

const REPOSITORY_CHARS = /^[a-z0-9_\-./]*$/;
const TAG_CHARS = /^[A-Za-z0-9_\-.]*$/;
// What Go's url.Parse("//" + name) keeps as Host unchanged: RFC 3986 reg-name characters and an optional numeric port.
const REGISTRY = /^[A-Za-z0-9\-._~!$&'()*+,;=]*(?::[0-9]*)?$/;
const DEFAULT_REGISTRY = 'index.docker.io';

function parseRepository(name: string): { name: string } | { error: string } {
  if (name === '') return { error: 'a repository name must be specified' };
  let registry = '';
  let repository = name;
  const slash = name.indexOf('/');
  if (slash !== -1) {
    const first = name.slice(0, slash);
    if (first.includes('.') || first.includes(':')) {
      registry = first;
      repository = name.slice(slash + 1);
    }
  }
  if (repository.length < 2 || repository.length > 255) return { error: `repository must be between 2 and 255 characters in length: ${clip(repository)}` };
  if (!REPOSITORY_CHARS.test(repository)) return { error: `repository can only contain the characters \`abcdefghijklmnopqrstuvwxyz0123456789_-./\`: ${clip(repository)}` };
  if (!REGISTRY.test(registry)) return { error: `registries must be valid RFC 3986 URI authorities: ${clip(registry)}` };
  if (registry === '' || registry === 'docker.io') registry = DEFAULT_REGISTRY;
  // Docker Hub's official images live under library/.
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  return { name: `${registry}/${repository}` };
}

function parseTag(name: string): { repository: string } | { error: string } {
  let base = name;
  let tag = '';
  const parts = name.split(':');
  // A last part holding a '/' is a registry port, not a tag.
  if (parts.length > 1 && !parts[parts.length - 1]!.includes('/')) {
    base = parts.slice(0, -1).join(':');
    tag = parts[parts.length - 1]!;
  }
  if (tag !== '' && (tag.length > 128 || !TAG_CHARS.test(tag))) return { error: `tag can only contain the characters \`A-Za-z0-9_-.\` (1 to 128): ${clip(tag)}` };
  const repo = parseRepository(base);
  return 'error' in repo ? repo : { repository: repo.name };
}

/** go-containerregistry's name.NewDigest: `repo[:tag]@sha256:<64 hex>`; returns Repository.Name(). */
export function parseImageDigestReference(ref: string): { repository: string; sha256: string } | { error: string } {
  const parts = ref.split('@');
  if (parts.length !== 2) return { error: `a digest must contain exactly one '@' separator (e.g. registry/repository@digest), saw ${JSON.stringify(clip(ref))}` };
  let base = parts[0]!;
  const dig = parts[1]!;
  if (!dig.startsWith('sha256:')) return { error: `unsupported digest algorithm: ${clip(dig)} (image digests are sha256)` };
  const hex = dig.slice('sha256:'.length);
  if (!/^[a-f0-9]{64}$/.test(hex)) return { error: `invalid sha256 digest ${JSON.stringify(clip(dig))}: 64 lowercase hex digits expected` };
  const tag = parseTag(base);
  if (!('error' in tag)) base = tag.repository;
  const repo = parseRepository(base);
  if ('error' in repo) return repo;
  return { repository: repo.name, sha256: hex };
}

// ---- deduplication (chains internal/artifact) -------------------------------------------------------------------

/** Chains' AppendSubjects/AppendMaterials: same name and one common algorithm+hex merges digests; otherwise append. */
export function appendArtifacts(original: Artifact[], ...items: Artifact[]): Artifact[] {
  for (const item of items) {
    const same = original.find((a) => a.name === item.name && Object.entries(a.digest).some(([alg, hex]) => item.digest[alg] === hex));
    if (same) Object.assign(same.digest, item.digest);
    else original.push({ name: item.name, digest: { ...item.digest } });
  }
  return original;
}

// ---- subjects ----------------------------------------------------------------------------------------------------

/** Chains' artifacts.IsBuildArtifact: true, false, or why the `*ARTIFACT_OUTPUTS` result is invalid. */
export function isBuildArtifact(result: ResultLike): boolean | { error: string } {
  if (!result.name.endsWith(ARTIFACT_OUTPUTS)) return false;
  const obj = objectVal(result.value);
  if (!obj) return { error: `must be an object {uri, digest, isBuildArtifact}, got ${describe(result.value)}` };
  if (obj['isBuildArtifact'] !== 'true') return false;
  return validArtifactObject(obj);
}

function validArtifactObject(obj: Record<string, string>): true | { error: string } {
  if (!obj['uri']) return { error: 'has no uri' };
  if (!obj['digest']) return { error: 'has no digest' };
  const d = parseDigest(obj['digest']);
  return 'error' in d ? d : true;
}

/** Results whose names Chains keeps out of byproducts because they are image hints (results.isOCIImage). */
export function isImageHintName(name: string): boolean {
  return name.endsWith(IMAGE_URL) || name.endsWith(IMAGE_DIGEST) || name === IMAGES;
}

/**
 * Chains' extract.SubjectsFromBuildArtifact (v2alpha4): `*ARTIFACT_OUTPUTS` build artifacts (uri as given), then OCI
 * images: `*IMAGE_URL`+`*IMAGE_DIGEST` pairs, `IMAGES`, and build artifacts whose uri is an image reference (chains
 * #1578), image names normalised. Duplicates merged. Invalid hints are reported through `warn`.
 */
export function subjectsFromResults(results: readonly ResultLike[], where: string, warn: Warn): Artifact[] {
  const subjects: Artifact[] = [];
  const buildArtifacts: { uri: string; digest: string }[] = [];
  for (const r of results) {
    const at = `${where} result ${r.name}`;
    if (r.name.endsWith(ARTIFACT_OUTPUTS)) {
      const obj = objectVal(r.value);
      const ba = isBuildArtifact(r);
      if (typeof ba === 'object') {
        warn('TYPE_HINT_INVALID', at, `${ba.error}; Chains drops it from subjects and byproducts alike`);
        continue;
      }
      const flag = obj?.['isBuildArtifact'];
      if (!ba && flag !== undefined && flag !== 'false') {
        warn('TYPE_HINT_IGNORED', at, `isBuildArtifact is ${JSON.stringify(flag)}; only "true" makes it a subject (kept as a byproduct)`);
      }
      if (ba && obj) buildArtifacts.push({ uri: obj['uri']!, digest: obj['digest']! });
    }
  }
  for (const ba of buildArtifacts) {
    const d = parseDigest(ba.digest);
    if ('error' in d) continue; // isBuildArtifact already validated it
    // Deliberate: algorithm lowercased and hex trimmed, as ParseDigest validated them (Chains copies the raw halves).
    appendArtifacts(subjects, { name: ba.uri, digest: { [d.algorithm]: d.hex } });
  }

  const images: string[] = [];
  // *IMAGE_URL / *IMAGE_DIGEST, paired by the prefix before the suffix (Chains keeps them in a map; we keep first-seen order).
  const pairs = new Map<string, { url?: string; digest?: string; urlResult?: string; digestResult?: string }>();
  for (const r of results) {
    for (const [suffix, key] of [[IMAGE_URL, 'url'], [IMAGE_DIGEST, 'digest']] as const) {
      if (!r.name.endsWith(suffix)) continue;
      const value = stringVal(r.value).trim();
      if (value === '') {
        warn('TYPE_HINT_INVALID', `${where} result ${r.name}`, `an ${suffix} hint needs a non-empty string, got ${describe(r.value)}`);
        continue;
      }
      const marker = r.name.slice(0, -suffix.length);
      const pair = pairs.get(marker) ?? {};
      pair[key] = value;
      if (key === 'url') pair.urlResult = r.name;
      else pair.digestResult = r.name;
      pairs.set(marker, pair);
    }
  }
  for (const [marker, pair] of pairs) {
    if (pair.url === undefined || pair.digest === undefined) {
      const has = pair.urlResult ?? pair.digestResult ?? marker;
      const missing = pair.url === undefined ? `${marker}${IMAGE_URL}` : `${marker}${IMAGE_DIGEST}`;
      warn('TYPE_HINT_INVALID', `${where} result ${has}`, `no matching ${missing} result, so no subject`);
      continue;
    }
    const parsed = parseImageDigestReference(`${pair.url}@${pair.digest}`);
    if ('error' in parsed) {
      warn('TYPE_HINT_INVALID', `${where} result ${pair.urlResult ?? marker}`, `${marker}${IMAGE_URL}/${marker}${IMAGE_DIGEST}: ${parsed.error}`);
      continue;
    }
    images.push(`${parsed.repository}@${parsed.sha256}`);
  }
  for (const r of results) {
    if (r.name !== IMAGES) continue;
    if (typeof r.value !== 'string') {
      warn('TYPE_HINT_INVALID', `${where} result ${r.name}`, `IMAGES must be a string of comma or newline separated references, got ${describe(r.value)}`);
      continue;
    }
    for (const field of r.value.split(/[\n,]/)) {
      const ref = field.trim();
      if (ref === '') continue;
      const parsed = parseImageDigestReference(ref);
      if ('error' in parsed) {
        warn('TYPE_HINT_INVALID', `${where} result ${r.name}`, `${JSON.stringify(clip(ref))}: ${parsed.error}`);
        continue;
      }
      images.push(`${parsed.repository}@${parsed.sha256}`);
    }
  }
  for (const ba of buildArtifacts) {
    const parsed = parseImageDigestReference(`${ba.uri}@${ba.digest}`);
    // Not an image (a package URL, a file): it is already a subject under its uri, nothing is lost.
    if (!('error' in parsed)) images.push(`${parsed.repository}@${parsed.sha256}`);
  }
  for (const image of images) {
    const at = image.lastIndexOf('@');
    appendArtifacts(subjects, { name: image.slice(0, at), digest: { sha256: image.slice(at + 1) } });
  }

  // slsa/v2alpha4 no longer reads ARTIFACT_URI/ARTIFACT_DIGEST (v1 and v2alpha3 did): say so rather than stay silent.
  for (const r of results) {
    if (r.name.endsWith(ARTIFACT_URI) || r.name.endsWith(ARTIFACT_DIGEST)) {
      warn('TYPE_HINT_IGNORED', `${where} result ${r.name}`, 'ARTIFACT_URI/ARTIFACT_DIGEST are not subjects in slsa/v2alpha4 (kept as a byproduct); use an *ARTIFACT_OUTPUTS object with isBuildArtifact "true"');
    }
  }
  return subjects;
}

// ---- inputs ------------------------------------------------------------------------------------------------------

/** Chains' RetrieveMaterialsFromStructuredResults: valid `*ARTIFACT_INPUTS` objects as materials (uri as given). */
export function inputsFromResults(results: readonly ResultLike[], where: string, warn: Warn): Artifact[] {
  const materials: Artifact[] = [];
  for (const r of results) {
    if (!r.name.endsWith(ARTIFACT_INPUTS)) continue;
    const at = `${where} result ${r.name}`;
    const obj = objectVal(r.value);
    if (!obj) {
      warn('TYPE_HINT_INVALID', at, `must be an object {uri, digest}, got ${describe(r.value)}`);
      continue;
    }
    const valid = validArtifactObject(obj);
    if (valid !== true) {
      warn('TYPE_HINT_INVALID', at, valid.error);
      continue;
    }
    const d = parseDigest(obj['digest']!) as { algorithm: string; hex: string };
    appendArtifacts(materials, { name: obj['uri']!, digest: { [d.algorithm]: d.hex } });
  }
  return materials;
}

/** Chains' attest.SPDXGit: `git+<url>.git[@revision]`. */
export function spdxGit(url: string, revision = ''): string {
  if (url === '') return '';
  let out = url.startsWith('git+') ? url : `git+${url}`;
  if (!out.endsWith('.git')) out = `${out}.git`;
  return revision === '' ? out : `${out}@${revision}`;
}

/**
 * CHAINS-GIT_URL / CHAINS-GIT_COMMIT from ordered sources (later sources win, even with ""), as Chains scans task
 * defaults, then params, then results. Returns the git material, or warns when only one half is set.
 */
export function gitSource(sources: readonly { readonly name: string; readonly value?: unknown }[], where: string, warn: Warn): Artifact | undefined {
  let commit = '';
  let url = '';
  let seen = false;
  for (const s of sources) {
    if (s.name === CHAINS_GIT_COMMIT) {
      commit = stringVal(s.value);
      seen = true;
    } else if (s.name === CHAINS_GIT_URL) {
      url = stringVal(s.value);
      seen = true;
    }
  }
  if (commit !== '' && url !== '') return { name: spdxGit(url), digest: { sha1: commit } };
  if (seen && (commit !== '' || url !== '')) {
    warn('TYPE_HINT_INVALID', where, `${commit === '' ? CHAINS_GIT_COMMIT : CHAINS_GIT_URL} is missing or empty, so ${commit === '' ? CHAINS_GIT_URL : CHAINS_GIT_COMMIT} gives no git source`);
  }
  return undefined;
}
