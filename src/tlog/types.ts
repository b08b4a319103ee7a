// Wire and in-process types of the transparency log, shaped exactly as Rekor v1's REST API
// (sigstore/rekor openapi.yaml: LogEntry, InclusionProof, LogInfo, ConsistencyProof, SearchLogQuery, SearchIndex, Error).

/** Rekor's InclusionProof: hashes are hex, leaf to root; checkpoint is the signed note for (treeSize, rootHash). */
export interface InclusionProofJSON {
  logIndex: number;
  rootHash: string;
  treeSize: number;
  hashes: string[];
  checkpoint: string;
}

/** The value under the entry-ID key of a Rekor LogEntry (models.LogEntryAnon). */
export interface LogEntryAnon {
  /** base64 of the canonical body */
  body: string;
  /** Unix seconds */
  integratedTime: number;
  /** hex sha256 of the log key's DER SubjectPublicKeyInfo */
  logID: string;
  logIndex: number;
  verification: {
    /** base64 ECDSA signature over canonical JSON {body, integratedTime, logID, logIndex} */
    signedEntryTimestamp: string;
    inclusionProof: InclusionProofJSON;
  };
}

/** A log entry as EmbeddedLog returns it in-process: Rekor's LogEntryAnon plus its identifiers. */
export interface LogEntry extends LogEntryAnon {
  /** 64 hex: the RFC 6962 leaf hash of the body (Rekor's "UUID") */
  uuid: string;
  /** 80 hex: 16 hex of the tree ID then the uuid (what Rekor puts as the response key and in Location) */
  entryId: string;
}

/** Rekor's LogEntry wire shape: one key, the 80-hex entry ID. */
export type LogEntryResponse = Record<string, LogEntryAnon>;

export interface LogInfo {
  rootHash: string;
  treeSize: number;
  /** the signed checkpoint (signed note) for this size and root */
  signedTreeHead: string;
  /** decimal tree ID, as Rekor prints it */
  treeID: string;
}

export interface ConsistencyProofJSON {
  rootHash: string;
  hashes: string[];
}

/** Rekor's error body. `code` is the HTTP status, or a go-openapi validation code (6xx) when the status is 422. */
export interface RekorErrorBody {
  code: number;
  message: string;
}

export interface SearchIndexQuery {
  /** `sha256:<hex>` (or bare hex, taken as sha256), e.g. an in-toto subject digest, the payload or envelope hash */
  hash?: string;
  publicKey?: { format: string; content?: string; url?: string };
  email?: string;
  operator?: 'and' | 'or';
}

export interface SearchLogQuery {
  entryUUIDs?: string[];
  logIndexes?: number[];
  entries?: unknown[];
}

export type SubmitStatus = 201 | 409;

export interface SubmitResult {
  /** 201: newly logged; 409: an equal entry was already in the log (entry is the existing one) */
  status: SubmitStatus;
  /** 64-hex leaf hash */
  uuid: string;
  entry: LogEntry;
}
