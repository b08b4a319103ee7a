import type { SerializedBundle } from '@sigstore/bundle';
import { VouchError } from '../../common/errors.ts';
import { checkSha256Hex } from '../record.ts';
import type { CosignRekorBundle } from '../types.ts';
import { MediaTypes } from '../../common/oci/registry.ts';

// cosign's registry layout, from its source (sigstore/cosign):
// - tags: `sha256-<hex>.sig` (image signatures), `sha256-<hex>.att` (attestations) in the image's repository
// - each signature/attestation is one layer of an image manifest (pkg/oci/empty: OCI image manifest with config
//   mediaType application/vnd.oci.image.config.v1+json unless COSIGN_DOCKER_MEDIA_TYPES is set); appending keeps the
//   earlier layers (pkg/oci/mutate AppendSignatures)
// - layer mediaTypes (pkg/types): application/vnd.dev.cosign.simplesigning.v1+json for signatures, the DSSE envelope
//   application/vnd.dsse.envelope.v1+json for attestations (cmd/cosign/cli/attest: static.WithLayerMediaType(DssePayloadType))
// - layer annotations (pkg/oci/static): dev.cosignproject.cosign/signature (base64 signature; "" for attestations,
//   whose signature is inside the envelope), dev.sigstore.cosign/bundle (JSON of pkg/cosign/bundle.RekorBundle),
//   and for attestations `predicateType`.
// vouch adds its own annotations under dev.vouch/ (cosign ignores unknown ones): the run uid (what makes put
// idempotent) and the Sigstore bundle less its envelope (the layer is the envelope), so a reader gets back the whole
// bundle, inclusion proof included, without the manifest carrying every payload twice.

export const CosignMediaTypes = {
  simpleSigning: 'application/vnd.dev.cosign.simplesigning.v1+json',
  dsseEnvelope: 'application/vnd.dsse.envelope.v1+json',
} as const;

export const CosignAnnotations = {
  signature: 'dev.cosignproject.cosign/signature',
  bundle: 'dev.sigstore.cosign/bundle',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  predicateType: 'predicateType',
} as const;

export const VouchAnnotations = {
  runUid: 'dev.vouch/run-uid',
  subjectName: 'dev.vouch/subject-name',
  sigstoreBundle: 'dev.vouch/sigstore-bundle',
  logEntry: 'dev.vouch/log-entry',
} as const;

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';

export function cosignTag(imageSha256: string, kind: 'sig' | 'att'): string {
  return `sha256-${checkSha256Hex(imageSha256, 'image digest')}.${kind}`;
}

/**
 * The simple signing payload cosign signs for an image (sigstore/sigstore pkg/signature/payload), byte for byte as Go's
 * encoding/json writes it: sign exactly these bytes.
 */
export function simpleSigningPayload(dockerReference: string, imageSha256: string): Buffer {
  checkSha256Hex(imageSha256, 'image digest');
  const payload = {
    critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': `sha256:${imageSha256}` }, type: SIMPLE_SIGNING_TYPE },
    optional: null,
  };
  // Go escapes <, > and & in strings; a docker reference never holds them, but stay byte-compatible anyway
  return Buffer.from(JSON.stringify(payload).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`));
}

/**
 * The DSSE envelope of an attestation layer: byte for byte the JSON text that was submitted to the log. A Rekor dsse
 * entry records sha256 of exactly that text (envelopeHash), and cosign checks the layer's bytes against it ("bundle
 * hash mismatch" otherwise), so the envelope must not be re-serialized in another field order. Both @sigstore/sign's
 * RekorWitness and our LogWitness submit JSON.stringify(envelopeToJSON(envelope)), which is the bundle's dsseEnvelope.
 */
export function envelopeBlob(bundle: SerializedBundle): Buffer {
  const env = (bundle as Partial<Extract<SerializedBundle, { dsseEnvelope: unknown }>>).dsseEnvelope;
  if (!env) throw new VouchError('STORE_INPUT_INVALID', 'the bundle has no DSSE envelope');
  return Buffer.from(JSON.stringify(env));
}

/**
 * cosign's Rekor bundle annotation from a Sigstore bundle's first log entry (cosign's EntryToBundle): needs the
 * entry's inclusion promise (signed entry timestamp); undefined when the log gave none.
 */
export function rekorBundleOf(bundle: SerializedBundle): CosignRekorBundle | undefined {
  const entry = bundle.verificationMaterial.tlogEntries[0];
  const set = entry?.inclusionPromise?.signedEntryTimestamp;
  if (!entry || !set) return undefined;
  return {
    SignedEntryTimestamp: set,
    Payload: {
      body: entry.canonicalizedBody,
      // protobuf JSON omits zero values: index 0 has no logIndex field
      integratedTime: Number(entry.integratedTime ?? 0),
      logIndex: Number(entry.logIndex ?? 0),
      logID: Buffer.from(entry.logId.keyId, 'base64').toString('hex'),
    },
  };
}

export interface Descriptor {
  mediaType: string;
  size: number;
  /** sha256:<hex> */
  digest: string;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/**
 * The config blob, shaped like go-containerregistry's for empty.Image plus layers (what cosign pushes); no verifier
 * reads it, but rootfs.diff_ids lists the layers as in any image. The zero creation time keeps a retried append
 * byte-identical (cosign ≥ 2 writes the current time).
 */
export function configBlob(layers: Descriptor[]): Buffer {
  const zero = '0001-01-01T00:00:00Z';
  return Buffer.from(
    JSON.stringify({
      architecture: '',
      created: zero,
      history: layers.map(() => ({ created: zero })),
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
}

/** A manifest with go-containerregistry's field order (schemaVersion, mediaType, config, layers). */
export function manifestBlob(mediaType: string, config: Descriptor, layers: Descriptor[]): Buffer {
  const desc = (d: Descriptor): Descriptor => ({ mediaType: d.mediaType, size: d.size, digest: d.digest, ...(d.annotations ? { annotations: d.annotations } : {}) });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, config: desc(config), layers: layers.map(desc) }));
}

export function configMediaTypeFor(manifestMediaType: string): string {
  return manifestMediaType === MediaTypes.dockerManifest ? MediaTypes.dockerConfig : MediaTypes.ociConfig;
}

/** Parses a manifest read from a registry; refuses anything that is not a single-image manifest. */
export function parseImageManifest(body: Buffer, where: string): ImageManifest {
  let m: unknown;
  try {
    m = JSON.parse(body.toString('utf8'));
  } catch {
    throw new VouchError('STORE_CORRUPT', `${where}: the manifest is not JSON`);
  }
  const o = m as Partial<ImageManifest>;
  const okMedia = o.mediaType === undefined || o.mediaType === MediaTypes.ociManifest || o.mediaType === MediaTypes.dockerManifest;
  if (o.schemaVersion !== 2 || !okMedia || typeof o.config?.digest !== 'string' || !Array.isArray(o.layers)) {
    throw new VouchError('STORE_CORRUPT', `${where}: not an image manifest (schemaVersion 2 with config and layers), mediaType ${JSON.stringify(o.mediaType)}`);
  }
  for (const l of o.layers) {
    if (typeof l?.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(l.digest) || typeof l.mediaType !== 'string' || typeof l.size !== 'number') {
      throw new VouchError('STORE_CORRUPT', `${where}: a layer descriptor is malformed`);
    }
  }
  return o as ImageManifest;
}
