// Gate evidence (CONTRACTS.md "Gate evidence"): a TaskRun's `*_EVIDENCE` object results name a predicate file
// ({predicateType, uri: file:///…, digest: sha256:…}) that the sidecar signs with the PipelineRun's subjects. The
// result values are written by the stage, i.e. by whatever ran in the TaskRun: untrusted. So a claim is only taken
// when its type is a known evidence type (src/attest/predicates.ts), its file lies inside one of the configured
// evidence roots once every symlink is resolved (checked again on the opened descriptor, so a directory swapped for a
// symlink between the check and the open does not help), it is a regular file within the size bound, its bytes have
// the digest the result names, and they are a JSON object. Anything else is refused with a reason; a refusal never
// affects the provenance.
//
// The OCI transport (docs/evidence.md): a claim whose uri is `oci://<registry>/<repository>@sha256:<manifest>` is
// fetched only from a repository on the allow-list (exact `registry/repository`, checked before any request, so a
// claim cannot make the sidecar reach an address of its choosing), by digest, manifest then layer, each bounded and
// digest-checked, the manifest required to be exactly the shape the stage framework pushes. A registry that cannot
// answer now (down, 5xx, 429, timeouts, auth, 404) is not a refusal: checkEvidence throws SIDECAR_EVIDENCE_UNAVAILABLE
// and the sidecar retries the run later.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkEvidenceManifest, MAX_EVIDENCE_MANIFEST_BYTES, parseEvidenceRepository, parseEvidenceUri } from '../attest/evidence-artifact.ts';
import { EVIDENCE_RESULTS, isEvidencePredicateType } from '../attest/predicates.ts';
import { errorMessage, isVouchError, VouchError } from '../common/errors.ts';
import { RegistryClient, type RegistryCredentials } from '../common/oci/registry.ts';
import type { TaskRun } from '../tekton/types.ts';

/** Default bound of one evidence file (an SBOM of a large monorepo stays well below). */
export const DEFAULT_MAX_EVIDENCE_BYTES = 16 * 1024 * 1024;

const EVIDENCE_RESULT = /_EVIDENCE$/;
const SHA256_DIGEST = /^sha256:([0-9a-f]{64})$/;

/** One `*_EVIDENCE` result of one TaskRun, as claimed (nothing checked yet). */
export interface EvidenceClaim {
  /** journal id: `<pr uid> evidence <taskrun uid> <result>` */
  id: string;
  taskRun: { namespace: string; name: string; uid: string };
  /** the pipeline task's name (label tekton.dev/pipelineTask), else the TaskRun's name */
  pipelineTask: string;
  result: string;
  value: unknown;
}

/** A claim whose file was read and checked. */
export interface CheckedEvidence {
  predicateType: string;
  uri: string;
  sha256: string;
  predicate: Record<string, unknown>;
}

/** Why a claim was refused: `kind` is the metric label, `reason` the log line. */
export interface EvidenceRefusal {
  kind: 'malformed' | 'unknown_type' | 'type_mismatch' | 'outside_roots' | 'unreadable' | 'too_large' | 'digest_mismatch' | 'not_json' | 'duplicate_type' | 'not_allowed' | 'wrong_shape' | EvidenceUnavailableKind;
  reason: string;
}

/** Transient OCI failures: retried, and refused with this kind only once the sidecar stops waiting (docs/evidence.md). */
export type EvidenceUnavailableKind = 'unavailable' | 'not_found';

/** Where `oci://` evidence may come from, and a client for each allowed registry. */
export interface OciEvidenceSource {
  /** exact `registry/repository` entries (registry lower-case) */
  repositories: ReadonlySet<string>;
  client(registry: string): RegistryClient;
}

/** The allow-list (normalized, checked) and a lazily made client per registry, as checkEvidence needs them. */
export function ociEvidenceSource(options: { repositories?: readonly string[]; registryCredentials?: Readonly<Record<string, RegistryCredentials>>; registryTimeoutMs?: number }): OciEvidenceSource {
  const repositories = new Set<string>();
  for (const entry of options.repositories ?? []) {
    try {
      repositories.add(parseEvidenceRepository(entry));
    } catch (err) {
      throw new VouchError('CONFIG_INVALID', `sidecar.evidenceRepositories: ${errorMessage(err)}`);
    }
  }
  const clients = new Map<string, RegistryClient>();
  return {
    repositories,
    client(registry: string): RegistryClient {
      let client = clients.get(registry);
      if (!client) {
        const credentials = options.registryCredentials?.[registry];
        // one quick retry here: the run's own backoff (retryMs) does the waiting, without holding a worker
        client = new RegistryClient({ registry, retries: 1, timeoutMs: options.registryTimeoutMs ?? 30_000, ...(credentials ? { credentials } : {}) });
        clients.set(registry, client);
      }
      return client;
    },
  };
}

/** Thrown (not returned) for a registry that cannot answer now; `details.kind` says what a final refusal would be. */
function unavailable(kind: EvidenceUnavailableKind, message: string, cause?: unknown): VouchError {
  return new VouchError('SIDECAR_EVIDENCE_UNAVAILABLE', message, { details: { kind }, ...(cause === undefined ? {} : { cause }) });
}

export const evidencePrefix = (prUid: string): string => `${prUid} evidence `;

/**
 * The `*_EVIDENCE` results of a PipelineRun's TaskRuns, in TaskRun then result order. Reads v1 (`status.results`)
 * and v1beta1 (`status.taskResults`) TaskRuns; a TaskRun without uid is skipped (it cannot be named in the journal).
 */
export function evidenceClaims(prUid: string, taskRuns: readonly TaskRun[]): EvidenceClaim[] {
  const out: EvidenceClaim[] = [];
  for (const tr of taskRuns) {
    const uid = tr.metadata.uid;
    if (!uid) continue;
    const status = (tr.status ?? {}) as { results?: unknown; taskResults?: unknown };
    const results = Array.isArray(status.results) ? status.results : Array.isArray(status.taskResults) ? status.taskResults : [];
    for (const r of results as unknown[]) {
      const { name, value } = (r ?? {}) as { name?: unknown; value?: unknown };
      if (typeof name !== 'string' || !EVIDENCE_RESULT.test(name)) continue;
      out.push({
        id: `${evidencePrefix(prUid)}${uid} ${name}`,
        taskRun: { namespace: tr.metadata.namespace ?? '', name: tr.metadata.name ?? '', uid },
        pipelineTask: tr.metadata.labels?.['tekton.dev/pipelineTask'] ?? tr.metadata.name ?? '',
        result: name,
        value,
      });
    }
  }
  return out;
}

/** `{predicateType, uri, digest}` from a result value: an object of strings, or (some converters) its JSON text. */
function parseValue(value: unknown): { predicateType: string; uri: string; digest: string } | undefined {
  let v = value;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const { predicateType, uri, digest } = v as Record<string, unknown>;
  if (typeof predicateType !== 'string' || typeof uri !== 'string' || typeof digest !== 'string') return undefined;
  return { predicateType, uri, digest };
}

function inside(path: string, roots: readonly string[]): boolean {
  return roots.some((root) => path === root || path.startsWith(root.endsWith(sep) ? root : root + sep));
}

/** The evidence roots with every symlink resolved; roots that do not exist (yet) are left out. */
export async function realRoots(roots: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const root of roots) {
    if (!isAbsolute(root)) continue;
    try {
      out.push(await realpath(root));
    } catch {
      // a workspace that does not exist holds no evidence
    }
  }
  return out;
}

/**
 * Reads and checks one claim's file or OCI artifact. A file's I/O problems are refusals (the claim names the file);
 * for OCI, only a registry that cannot answer now throws (SIDECAR_EVIDENCE_UNAVAILABLE), everything else is a refusal.
 */
export async function checkEvidence(claim: EvidenceClaim, roots: readonly string[], maxBytes: number, oci?: OciEvidenceSource): Promise<CheckedEvidence | EvidenceRefusal> {
  const v = parseValue(claim.value);
  if (!v) return { kind: 'malformed', reason: 'the result is not an object of strings {predicateType, uri, digest}' };
  if (!isEvidencePredicateType(v.predicateType)) return { kind: 'unknown_type', reason: `predicate type ${JSON.stringify(v.predicateType.slice(0, 200))} is not a gate evidence type` };
  const expected = Object.hasOwn(EVIDENCE_RESULTS, claim.result) ? EVIDENCE_RESULTS[claim.result] : undefined;
  if (expected !== v.predicateType) {
    return { kind: 'type_mismatch', reason: expected === undefined ? `result ${claim.result} is not a gate evidence result (${Object.keys(EVIDENCE_RESULTS).join(', ')})` : `result ${claim.result} carries ${expected} evidence, not ${v.predicateType}` };
  }
  const digest = SHA256_DIGEST.exec(v.digest);
  if (!digest) return { kind: 'malformed', reason: `digest ${JSON.stringify(v.digest.slice(0, 100))} is not sha256:<64 lowercase hex>` };
  if (v.uri.startsWith('oci://')) return checkOciEvidence(v, digest[1]!, maxBytes, oci);
  let path: string;
  try {
    const url = new URL(v.uri);
    if (url.protocol !== 'file:' || (url.host !== '' && url.host !== 'localhost') || url.search !== '' || url.hash !== '') throw new Error('not a plain file: URL');
    path = fileURLToPath(url);
  } catch (err) {
    return { kind: 'malformed', reason: `uri ${JSON.stringify(v.uri.slice(0, 300))} is not an absolute file:// URL (${errorMessage(err)})` };
  }
  const realRootsNow = await realRoots(roots);
  if (realRootsNow.length === 0) return { kind: 'outside_roots', reason: `${path}: no evidence root (sidecar.evidenceRoots) exists, so no evidence file is read` };
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    // outside the roots is the more useful answer when both apply: it names the attempt
    if (!inside(path, realRootsNow)) return { kind: 'outside_roots', reason: `${path} is outside the evidence roots` };
    return { kind: 'unreadable', reason: `${path}: ${errorMessage(err)}` };
  }
  if (!inside(real, realRootsNow)) return { kind: 'outside_roots', reason: `${path}${real === path ? '' : ` (really ${real})`} is outside the evidence roots` };
  let handle;
  try {
    // O_NOFOLLOW: the last component cannot have become a symlink since realpath; O_NONBLOCK: a FIFO cannot hang us
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return { kind: 'unreadable', reason: `${path}: ${errorMessage(err)}` };
  }
  try {
    // what was opened, whatever happened to the directories on the way (Linux: /proc/self/fd)
    const opened = await readlink(`/proc/self/fd/${String(handle.fd)}`).catch(() => real);
    if (!inside(opened, realRootsNow)) return { kind: 'outside_roots', reason: `${path} resolved to ${opened}, outside the evidence roots` };
    const st = await handle.stat();
    if (!st.isFile()) return { kind: 'unreadable', reason: `${path} is not a regular file` };
    if (st.size > maxBytes) return { kind: 'too_large', reason: `${path} has ${String(st.size)} bytes, over the ${String(maxBytes)}-byte bound` };
    const buf = Buffer.alloc(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) return { kind: 'too_large', reason: `${path} grew over the ${String(maxBytes)}-byte bound while being read` };
    }
    const bytes = buf.subarray(0, length);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (sha256 !== digest[1]) return { kind: 'digest_mismatch', reason: `${path} has sha256:${sha256}, the result claims ${v.digest}` };
    let predicate: unknown;
    try {
      predicate = JSON.parse(bytes.toString('utf8'));
    } catch {
      predicate = undefined;
    }
    if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) return { kind: 'not_json', reason: `${path} is not a JSON object` };
    return { predicateType: v.predicateType, uri: v.uri, sha256, predicate: predicate as Record<string, unknown> };
  } catch (err) {
    return { kind: 'unreadable', reason: `${path}: ${errorMessage(err)}` };
  } finally {
    await handle.close();
  }
}

/** The OCI half of checkEvidence: allow-list first (no request otherwise), then manifest, shape, size, layer. */
async function checkOciEvidence(v: { predicateType: string; uri: string; digest: string }, predicateDigest: string, maxBytes: number, oci: OciEvidenceSource | undefined): Promise<CheckedEvidence | EvidenceRefusal> {
  let loc;
  try {
    loc = parseEvidenceUri(v.uri);
  } catch (err) {
    return { kind: 'malformed', reason: `uri ${JSON.stringify(v.uri.slice(0, 300))} is not oci://<registry>/<repository>@sha256:<hex> (${errorMessage(err)})` };
  }
  const repository = `${loc.registry.toLowerCase()}/${loc.repository}`;
  const where = `${repository}@sha256:${loc.digest}`;
  if (!oci?.repositories.has(repository)) return { kind: 'not_allowed', reason: `${repository} is not an allowed evidence repository (sidecar.evidenceRepositories)` };
  const client = oci.client(loc.registry);
  // what a registry error means here: down/overloaded/auth/404 may pass (retry), a corrupt or refused answer will not
  const classify = (err: unknown, what: string): EvidenceRefusal => {
    if (isVouchError(err, 'STORE_UNAVAILABLE') || isVouchError(err, 'STORE_AUTH_FAILED')) throw unavailable('unavailable', `${where}: ${errorMessage(err)}`, err);
    if (isVouchError(err, 'STORE_NOT_FOUND')) throw unavailable('not_found', `${where}: the ${what} is not in the registry (yet)`, err);
    if (isVouchError(err, 'STORE_CORRUPT')) return { kind: 'digest_mismatch', reason: `${where}: ${errorMessage(err)}` };
    if (isVouchError(err, 'STORE_TOO_LARGE')) return { kind: 'too_large', reason: `${where}: ${errorMessage(err)}` };
    return { kind: 'unreadable', reason: `${where}: ${errorMessage(err)}` };
  };
  let manifest;
  try {
    manifest = await client.getManifest(loc.repository, `sha256:${loc.digest}`, { maxBytes: MAX_EVIDENCE_MANIFEST_BYTES });
  } catch (err) {
    return classify(err, 'manifest');
  }
  if (!manifest) throw unavailable('not_found', `${where}: the manifest is not in the registry (yet)`);
  const shape = checkEvidenceManifest(manifest.body, manifest.mediaType, { predicateDigest, predicateType: v.predicateType });
  if ('kind' in shape) return { kind: shape.kind, reason: `${where}: ${shape.reason}` };
  // refused on the manifest's word, before a byte of the layer is read; the download is bounded by the same size
  if (shape.size > maxBytes) return { kind: 'too_large', reason: `${where}: the predicate layer has ${String(shape.size)} bytes, over the ${String(maxBytes)}-byte bound` };
  let bytes: Buffer;
  try {
    bytes = await client.getBlob(loc.repository, predicateDigest, { maxBytes: shape.size });
  } catch (err) {
    return classify(err, 'predicate layer');
  }
  let predicate: unknown;
  try {
    predicate = JSON.parse(bytes.toString('utf8'));
  } catch {
    predicate = undefined;
  }
  if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) return { kind: 'not_json', reason: `${where}: the predicate layer is not a JSON object` };
  return { predicateType: v.predicateType, uri: v.uri, sha256: predicateDigest, predicate: predicate as Record<string, unknown> };
}

export function isRefusal(x: CheckedEvidence | EvidenceRefusal): x is EvidenceRefusal {
  return 'kind' in x;
}
