// The storage contract every attestation backend implements (local directory, OCI registry, Tekton annotations).
// The sidecar writes through it after signing and logging; admission and `vouch verify` read through it.
import type { SerializedBundle } from '@sigstore/bundle';

export type StoreKind = 'local' | 'oci' | 'tekton';

/** Where a transparency log holds the entry of a bundle (Rekor v1 terms). */
export interface LogEntryRef {
  logIndex: number;
  /** Rekor entry UUID (hex) */
  uuid: string;
  /** base URL of the log, e.g. https://rekor.sigstore.dev (no trailing slash) */
  url: string;
}

/** The TaskRun or PipelineRun an attestation is about: the Tekton annotations store patches this object. */
export interface RunRef {
  kind: 'TaskRun' | 'PipelineRun';
  namespace: string;
  name: string;
  uid: string;
}

/** One signed, logged attestation for one subject. */
export interface AttestationRecord {
  /** the artifact: `name` is an image repository (no tag, no digest) for the OCI store, any name otherwise */
  subject: { name: string; sha256: string };
  /** the in-toto predicateType of the signed statement */
  predicateType: string;
  /** uid of the PipelineRun/TaskRun that produced the statement: (subject, predicateType, runUid) identifies a record */
  runUid: string;
  /** Sigstore bundle v0.3 (JSON) holding the DSSE envelope and the log entry */
  bundle: SerializedBundle;
  logEntry?: LogEntryRef;
  /** needed by the Tekton annotations store only */
  run?: RunRef;
}

/** Where a record went: a file path, an OCI reference `repo@sha256:…` of the manifest, or `<kind>/<ns>/<name>` for annotations. */
export interface StoreLocation {
  kind: StoreKind;
  ref: string;
}

/**
 * An attestation backend.
 * - `put` is idempotent: the same (subject.sha256, predicateType, runUid) stored twice is stored once, so a retry
 *   after a crash never duplicates. It either stores the whole record or throws (a VouchError, STORE_* code) leaving
 *   nothing half-written visible.
 * - `list` returns every record stored for a subject digest (64 lowercase hex, no `sha256:` prefix), oldest first
 *   where the backend knows the order. Backends that are keyed by repository (OCI) need `subjectName` unless they
 *   were configured with a repository.
 */
export interface AttestationStore {
  readonly kind: StoreKind;
  put(record: AttestationRecord): Promise<StoreLocation>;
  list(subjectSha256: string, subjectName?: string): Promise<AttestationRecord[]>;
}

/** Rekor's bundle as cosign stores it in the `dev.sigstore.cosign/bundle` annotation (cosign pkg/cosign/bundle). */
export interface CosignRekorBundle {
  SignedEntryTimestamp: string;
  Payload: { body: string; integratedTime: number; logIndex: number; logID: string };
}

/**
 * A cosign image signature (`sha256-<hex>.sig`): the simple signing payload (build it with simpleSigningPayload()
 * from the OCI store, then sign those exact bytes) and its signature.
 */
export interface ImageSignatureRecord {
  /** image repository (the payload's docker-reference) and manifest digest (hex) */
  image: { name: string; sha256: string };
  /** the exact simple signing payload bytes that were signed */
  payload: Uint8Array;
  /** base64 of the signature over `payload` */
  signature: string;
  /** the Rekor entry of the signature, when it was logged */
  rekorBundle?: CosignRekorBundle;
}

/** Backends that can hold cosign image signatures (the OCI store). */
export interface ImageSignatureStore {
  putSignature(record: ImageSignatureRecord): Promise<StoreLocation>;
  listSignatures(imageSha256: string, imageName?: string): Promise<ImageSignatureRecord[]>;
}
