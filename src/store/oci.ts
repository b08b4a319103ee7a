import { createHash } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import { VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import {
  CosignAnnotations,
  CosignMediaTypes,
  configBlob,
  configMediaTypeFor,
  cosignTag,
  envelopeBlob,
  manifestBlob,
  parseImageManifest,
  rekorBundleOf,
  VouchAnnotations,
  type Descriptor,
} from './oci/cosign.ts';
import { parseImageReference } from '../common/oci/reference.ts';
import { MediaTypes, RegistryClient, type RegistryClientOptions } from '../common/oci/registry.ts';
import { checkRecord, checkSha256Hex, statementOf } from './record.ts';
import type { AttestationRecord, AttestationStore, CosignRekorBundle, ImageSignatureRecord, ImageSignatureStore, StoreLocation } from './types.ts';

// OCI registry store, cosign-compatible (layout in ./oci/cosign.ts): attestations are layers of the `sha256-<hex>.att`
// manifest, image signatures layers of `sha256-<hex>.sig`, in the subject's own repository (or one fixed repository,
// like Chains' storage.oci.repository). A put uploads the layer and config blobs first and the manifest last: the
// manifest PUT is the commit point, so a put cut short leaves only unreferenced blobs, never a visible half-record.
// put is idempotent: a layer with the same predicateType and run uid (attestations) or the same payload and signature
// (signatures) is found in the manifest and not appended again. Appends are read-modify-write: after the PUT the tag is
// read back and the append redone if a concurrent writer replaced it.

export interface OciStoreOptions extends Omit<RegistryClientOptions, 'registry'> {
  /** `registry/repository` that holds every .att/.sig tag, instead of each subject's own repository */
  repository?: string;
  /** refuse to grow a .att/.sig manifest beyond this (default 4 MiB, distribution's limit) */
  maxManifestBytes?: number;
}

interface Target {
  client: RegistryClient;
  registry: string;
  repository: string;
}

const MAX_APPEND_ROUNDS = 4;
/** distribution's default manifest limit (4 MiB); most hosted registries use the same */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export class OciStore implements AttestationStore, ImageSignatureStore {
  readonly kind = 'oci' as const;
  private readonly options: OciStoreOptions;
  private readonly clients = new Map<string, RegistryClient>();
  private readonly fixed: { registry: string; repository: string } | undefined;
  private readonly log = logger('store.oci');

  constructor(options: OciStoreOptions = {}) {
    this.options = options;
    if (options.repository) {
      const ref = parseImageReference(options.repository);
      if (ref.tag !== undefined || ref.digest !== undefined) throw new VouchError('STORE_INPUT_INVALID', `the OCI store repository ${JSON.stringify(options.repository)} must not have a tag or digest`);
      this.fixed = { registry: ref.registry, repository: ref.repository };
    }
  }

  private target(subjectName: string | undefined): Target {
    let where = this.fixed;
    if (!where) {
      if (subjectName === undefined || subjectName === '') {
        throw new VouchError('STORE_INPUT_INVALID', 'the OCI store needs the image repository of the subject (no store repository is configured)');
      }
      const ref = parseImageReference(subjectName);
      where = { registry: ref.registry, repository: ref.repository };
    }
    let client = this.clients.get(where.registry);
    if (!client) {
      client = new RegistryClient({ ...this.options, registry: where.registry });
      this.clients.set(where.registry, client);
    }
    return { client, ...where };
  }

  async put(record: AttestationRecord): Promise<StoreLocation> {
    checkRecord(record);
    const target = this.target(record.subject.name);
    const annotations: Record<string, string> = { [CosignAnnotations.signature]: '' };
    const rekor = rekorBundleOf(record.bundle);
    if (rekor) annotations[CosignAnnotations.bundle] = JSON.stringify(rekor);
    annotations[CosignAnnotations.predicateType] = record.predicateType;
    annotations[VouchAnnotations.runUid] = record.runUid;
    annotations[VouchAnnotations.subjectName] = record.subject.name;
    // the bundle without its envelope (the layer is the envelope): the manifest would otherwise carry every payload twice
    const { dsseEnvelope: _envelope, ...bundleRest } = record.bundle;
    annotations[VouchAnnotations.sigstoreBundle] = JSON.stringify(bundleRest);
    if (record.logEntry) annotations[VouchAnnotations.logEntry] = JSON.stringify(record.logEntry);
    const same = (l: Descriptor): boolean =>
      l.mediaType === CosignMediaTypes.dsseEnvelope && l.annotations?.[CosignAnnotations.predicateType] === record.predicateType && l.annotations[VouchAnnotations.runUid] === record.runUid;
    return this.append(target, cosignTag(record.subject.sha256, 'att'), envelopeBlob(record.bundle), CosignMediaTypes.dsseEnvelope, annotations, same);
  }

  async putSignature(sig: ImageSignatureRecord): Promise<StoreLocation> {
    checkSha256Hex(sig.image?.sha256, 'image digest');
    if (!(sig.payload instanceof Uint8Array) || sig.payload.length === 0) throw new VouchError('STORE_INPUT_INVALID', 'the signature payload must be the non-empty bytes that were signed');
    if (typeof sig.signature !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(sig.signature)) throw new VouchError('STORE_INPUT_INVALID', 'the signature must be base64');
    checkSimpleSigning(Buffer.from(sig.payload), sig.image.sha256);
    const target = this.target(sig.image.name);
    const annotations: Record<string, string> = { [CosignAnnotations.signature]: sig.signature };
    if (sig.rekorBundle) annotations[CosignAnnotations.bundle] = JSON.stringify(sig.rekorBundle);
    const payload = Buffer.from(sig.payload);
    const payloadDigest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
    const same = (l: Descriptor): boolean => l.mediaType === CosignMediaTypes.simpleSigning && l.digest === payloadDigest && l.annotations?.[CosignAnnotations.signature] === sig.signature;
    return this.append(target, cosignTag(sig.image.sha256, 'sig'), payload, CosignMediaTypes.simpleSigning, annotations, same);
  }

  async list(subjectSha256: string, subjectName?: string): Promise<AttestationRecord[]> {
    const tag = cosignTag(subjectSha256, 'att');
    const target = this.target(subjectName);
    const where = `${target.registry}/${target.repository}:${tag}`;
    const manifest = await target.client.getManifest(target.repository, tag);
    if (!manifest) return [];
    const layers = parseImageManifest(manifest.body, where).layers;
    // fetch the envelopes in parallel (one round trip each), then check them in order
    const blobs = await Promise.all(
      layers.map((l) => (l.mediaType === CosignMediaTypes.dsseEnvelope && l.annotations?.[VouchAnnotations.sigstoreBundle] !== undefined ? target.client.getBlob(target.repository, l.digest.slice('sha256:'.length)) : Promise.resolve(undefined))),
    );
    const records: AttestationRecord[] = [];
    for (const [i, layer] of layers.entries()) {
      if (layer.mediaType !== CosignMediaTypes.dsseEnvelope) continue;
      const a = layer.annotations ?? {};
      const bundleText = a[VouchAnnotations.sigstoreBundle];
      const runUid = a[VouchAnnotations.runUid];
      if (bundleText === undefined || runUid === undefined) {
        // written by cosign or Chains: no Sigstore bundle to hand back
        this.log.debug({ where, layer: layer.digest }, 'attestation layer without a vouch bundle skipped');
        continue;
      }
      let rest: Record<string, unknown>;
      let envelope: unknown;
      try {
        rest = JSON.parse(bundleText) as Record<string, unknown>;
      } catch {
        throw new VouchError('STORE_CORRUPT', `${where}: layer ${layer.digest} has an unreadable ${VouchAnnotations.sigstoreBundle} annotation`);
      }
      try {
        envelope = JSON.parse(blobs[i]!.toString('utf8'));
      } catch {
        throw new VouchError('STORE_CORRUPT', `${where}: layer ${layer.digest} is not a DSSE envelope`);
      }
      // the layer (what cosign verifies, fetched by its digest) is the bundle's envelope: one signed envelope for both
      const bundle = { ...rest, dsseEnvelope: envelope } as SerializedBundle;
      const facts = statementOf(bundle, `${where} layer ${layer.digest}`);
      if (!facts.subjects.some((s) => s.sha256 === subjectSha256)) {
        throw new VouchError('STORE_CORRUPT', `${where}: layer ${layer.digest} attests another digest than sha256:${subjectSha256}`);
      }
      const record: AttestationRecord = {
        subject: { name: a[VouchAnnotations.subjectName] ?? subjectName ?? `${target.registry}/${target.repository}`, sha256: subjectSha256 },
        predicateType: facts.predicateType,
        runUid,
        bundle,
      };
      const logEntry = a[VouchAnnotations.logEntry];
      if (logEntry !== undefined) record.logEntry = JSON.parse(logEntry) as NonNullable<AttestationRecord['logEntry']>;
      records.push(record);
    }
    return records;
  }

  async listSignatures(imageSha256: string, imageName?: string): Promise<ImageSignatureRecord[]> {
    const tag = cosignTag(imageSha256, 'sig');
    const target = this.target(imageName);
    const where = `${target.registry}/${target.repository}:${tag}`;
    const manifest = await target.client.getManifest(target.repository, tag);
    if (!manifest) return [];
    const out: ImageSignatureRecord[] = [];
    for (const layer of parseImageManifest(manifest.body, where).layers) {
      if (layer.mediaType !== CosignMediaTypes.simpleSigning) continue;
      const payload = await target.client.getBlob(target.repository, layer.digest.slice('sha256:'.length));
      const rec: ImageSignatureRecord = {
        image: { name: imageName ?? `${target.registry}/${target.repository}`, sha256: imageSha256 },
        payload,
        signature: layer.annotations?.[CosignAnnotations.signature] ?? '',
      };
      const rekor = layer.annotations?.[CosignAnnotations.bundle];
      if (rekor !== undefined) {
        try {
          rec.rekorBundle = JSON.parse(rekor) as CosignRekorBundle;
        } catch {
          throw new VouchError('STORE_CORRUPT', `${where}: layer ${layer.digest} has an unreadable ${CosignAnnotations.bundle} annotation`);
        }
      }
      out.push(rec);
    }
    return out;
  }

  private async append(
    target: Target,
    tag: string,
    layerData: Buffer,
    layerMediaType: string,
    annotations: Record<string, string>,
    same: (l: Descriptor) => boolean,
  ): Promise<StoreLocation> {
    const { client, repository } = target;
    const where = `${target.registry}/${repository}:${tag}`;
    const location = (digest: string): StoreLocation => ({ kind: 'oci', ref: `${target.registry}/${repository}@sha256:${digest}` });
    for (let round = 0; round < MAX_APPEND_ROUNDS; round++) {
      const existing = await client.getManifest(repository, tag);
      const manifest = existing ? parseImageManifest(existing.body, where) : undefined;
      if (existing && manifest?.layers.some(same)) return location(existing.digest);
      const layerDigest = await client.putBlob(repository, layerData);
      const layer: Descriptor = { mediaType: layerMediaType, size: layerData.length, digest: `sha256:${layerDigest}`, annotations };
      const layers = [...(manifest?.layers ?? []), layer];
      const mediaType = manifest?.mediaType === MediaTypes.dockerManifest ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
      const config = configBlob(layers);
      const configDigest = await client.putBlob(repository, config);
      const body = manifestBlob(mediaType, { mediaType: configMediaTypeFor(mediaType), size: config.length, digest: `sha256:${configDigest}` }, layers);
      const limit = this.options.maxManifestBytes ?? MAX_MANIFEST_BYTES;
      if (body.length > limit) {
        throw new VouchError('STORE_REJECTED', `${where}: the manifest would grow to ${body.length} bytes, over the limit of ${limit} (${manifest?.layers.length ?? 0} layers already); nothing was changed`);
      }
      await client.putManifest(repository, tag, body, mediaType);
      // read back: a concurrent append may have replaced ours
      const after = await client.getManifest(repository, tag);
      if (after && parseImageManifest(after.body, where).layers.some(same)) {
        this.log.debug({ where, layer: layer.digest }, 'appended');
        return location(after.digest);
      }
      this.log.warn({ where, round }, 'a concurrent writer replaced the manifest; appending again');
    }
    throw new VouchError('STORE_UNAVAILABLE', `${where}: the manifest kept changing under concurrent writers; gave up after ${MAX_APPEND_ROUNDS} rounds`);
  }
}

/** A payload filed under an image digest must be the simple signing payload for that digest. */
function checkSimpleSigning(payload: Buffer, imageSha256: string): void {
  let p: { critical?: { image?: { 'docker-manifest-digest'?: unknown }; type?: unknown } };
  try {
    p = JSON.parse(payload.toString('utf8')) as typeof p;
  } catch {
    throw new VouchError('STORE_INPUT_INVALID', 'the signature payload is not JSON (expected a cosign simple signing payload)');
  }
  if (p.critical?.type !== 'cosign container image signature' || p.critical.image?.['docker-manifest-digest'] !== `sha256:${imageSha256}`) {
    throw new VouchError('STORE_INPUT_INVALID', `the signature payload is not a cosign simple signing payload for sha256:${imageSha256}`);
  }
}
