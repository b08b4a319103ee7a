// Gate evidence as an OCI artifact (docs/evidence.md): how a stage ships a predicate to the sidecar when the sidecar
// cannot read the run's workspace (a cluster). One OCI 1.1 image manifest per predicate: `artifactType` ours, the
// empty config (`application/vnd.oci.empty.v1+json`, `{}`), exactly one layer holding the predicate's exact bytes,
// annotations naming the predicate type, stage and result. The result's `uri` is `oci://<registry>/<repository>@
// sha256:<manifest digest>` and its `digest` stays the predicate's own sha256, which is the layer's digest. The stage
// builds it here and the sidecar checks it here, so both agree on one shape; neither does any I/O in this file.

import { createHash } from 'node:crypto';
import { parseImageReference } from '../common/oci/reference.ts';

export const OCI_MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
/** artifactType of an evidence manifest */
export const EVIDENCE_ARTIFACT_TYPE = 'application/vnd.vouch.evidence.v1+json';
/** media type of its one layer: the in-toto predicate body, JSON */
export const EVIDENCE_LAYER_MEDIA_TYPE = 'application/vnd.vouch.evidence.predicate.v1+json';
/** the OCI 1.1 empty descriptor's content and media type (image-spec manifest.md "Guidance for an Empty Descriptor") */
export const EMPTY_CONFIG = Buffer.from('{}');
export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
export const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';

export const EvidenceAnnotations = {
  predicateType: 'dev.vouch.evidence/predicate-type',
  stage: 'dev.vouch.evidence/stage',
  result: 'dev.vouch.evidence/result',
  /** the layer's file name, as `oras pull` would name it */
  title: 'org.opencontainers.image.title',
} as const;

/** A manifest small enough for any of our pushes; the sidecar refuses bigger ones before parsing. */
export const MAX_EVIDENCE_MANIFEST_BYTES = 64 * 1024;

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

export interface EvidenceArtifact {
  manifest: Buffer;
  /** hex of the manifest bytes: what the `oci://` uri pins */
  manifestDigest: string;
  /** hex of the predicate bytes (the layer) */
  predicateDigest: string;
  /** a deterministic tag, so registries that collect untagged manifests keep it (cosign's `sha256-<hex>` style) */
  tag: string;
}

/** The manifest of one predicate, byte for byte deterministic (same inputs, same digest). */
export function evidenceArtifact(input: { predicate: Buffer; predicateType: string; stage: string; result: string; file: string }): EvidenceArtifact {
  const predicateDigest = sha256(input.predicate);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_MEDIA_TYPE,
      artifactType: EVIDENCE_ARTIFACT_TYPE,
      config: { mediaType: EMPTY_MEDIA_TYPE, digest: EMPTY_DIGEST, size: EMPTY_CONFIG.length },
      layers: [{ mediaType: EVIDENCE_LAYER_MEDIA_TYPE, digest: `sha256:${predicateDigest}`, size: input.predicate.length, annotations: { [EvidenceAnnotations.title]: input.file } }],
      annotations: { [EvidenceAnnotations.predicateType]: input.predicateType, [EvidenceAnnotations.stage]: input.stage, [EvidenceAnnotations.result]: input.result },
    }),
  );
  const manifestDigest = sha256(manifest);
  return { manifest, manifestDigest, predicateDigest, tag: `sha256-${manifestDigest}.evidence` };
}

export interface EvidenceLocation {
  registry: string;
  repository: string;
  /** hex of the manifest */
  digest: string;
}

/** `oci://<registry>/<repository>@sha256:<hex>`: the registry explicit (no Docker Hub default), no tag. */
export function parseEvidenceUri(uri: string): EvidenceLocation {
  if (!uri.startsWith('oci://')) throw new Error('not an oci:// URI');
  const rest = uri.slice('oci://'.length);
  const ref = parseImageReference(rest);
  if (ref.digest === undefined || ref.tag !== undefined) throw new Error('must pin a manifest by @sha256:<hex> and carry no tag');
  // parseImageReference would read `a/b@…` as Docker Hub's a/b: the registry must be written out
  if (!rest.startsWith(`${ref.registry}/`)) throw new Error('must name its registry host explicitly');
  return { registry: ref.registry, repository: ref.repository, digest: ref.digest };
}

export function evidenceUri(loc: EvidenceLocation): string {
  return `oci://${loc.registry}/${loc.repository}@sha256:${loc.digest}`;
}

/** `registry/repository` as written in an allow-list entry, checked and normalized (lower-case host). */
export function parseEvidenceRepository(entry: string): string {
  const ref = parseImageReference(entry);
  if (ref.digest !== undefined || ref.tag !== undefined || !entry.startsWith(`${ref.registry}/`)) throw new Error(`${JSON.stringify(entry)} is not registry/repository (host explicit, no tag or digest)`);
  return `${ref.registry.toLowerCase()}/${ref.repository}`;
}

/**
 * Checks that a manifest is exactly the shape evidenceArtifact() makes, for the predicate the claim names: returns
 * the layer's size, or why not. The manifest came from an untrusted step (through a registry): every field is checked.
 */
export function checkEvidenceManifest(body: Buffer, servedMediaType: string, expected: { predicateDigest: string; predicateType: string }): { size: number } | { kind: 'wrong_shape' | 'digest_mismatch'; reason: string } {
  const bad = (reason: string): { kind: 'wrong_shape'; reason: string } => ({ kind: 'wrong_shape', reason });
  const quote = (v: unknown): string => JSON.stringify(String(v)).slice(0, 100);
  let m: unknown;
  try {
    m = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('the manifest is not JSON');
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return bad('the manifest is not a JSON object');
  const { schemaVersion, mediaType, artifactType, config, layers, annotations } = m as Record<string, unknown>;
  if (schemaVersion !== 2 || mediaType !== OCI_MANIFEST_MEDIA_TYPE || servedMediaType !== OCI_MANIFEST_MEDIA_TYPE) return bad(`the manifest is not an OCI image manifest (mediaType ${quote(mediaType)}, served as ${quote(servedMediaType)})`);
  if (artifactType !== EVIDENCE_ARTIFACT_TYPE) return bad(`artifactType ${quote(artifactType)} is not ${EVIDENCE_ARTIFACT_TYPE}`);
  const c = (config ?? {}) as Record<string, unknown>;
  if (c['mediaType'] !== EMPTY_MEDIA_TYPE || c['digest'] !== EMPTY_DIGEST || c['size'] !== EMPTY_CONFIG.length) return bad(`the config is not the empty descriptor (${EMPTY_MEDIA_TYPE}, ${EMPTY_DIGEST})`);
  if (!Array.isArray(layers) || layers.length !== 1) return bad(`the manifest has ${Array.isArray(layers) ? String(layers.length) : 'no'} layers, not exactly one`);
  const layer = (layers[0] ?? {}) as Record<string, unknown>;
  if (layer['mediaType'] !== EVIDENCE_LAYER_MEDIA_TYPE) return bad(`the layer's media type ${quote(layer['mediaType'])} is not ${EVIDENCE_LAYER_MEDIA_TYPE}`);
  if (layer['digest'] !== `sha256:${expected.predicateDigest}`) return { kind: 'digest_mismatch', reason: `the layer is ${quote(layer['digest'])}, the result claims sha256:${expected.predicateDigest}` };
  const size = layer['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return bad('the layer has no valid size');
  // a foreign layer would be fetched from wherever its urls say: never
  if (layer['urls'] !== undefined) return bad('the layer names foreign urls');
  const a = (annotations ?? {}) as Record<string, unknown>;
  if (a[EvidenceAnnotations.predicateType] !== expected.predicateType) return bad(`the manifest's predicate type annotation is not ${expected.predicateType}`);
  return { size };
}
