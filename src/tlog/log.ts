// The embedded, Rekor v1 compatible transparency log. Other rooms use it in-process; server.ts serves it over HTTP.
//
//   const log = await EmbeddedLog.open(dir, { name: 'localhost' });   // creates DIR/log.key, log.json, entries.log
//   const { status, uuid, entry } = await log.submit(proposedEntry);  // a Rekor ProposedEntry: dsse 0.0.1 / intoto 0.0.2
//       status 201 (logged) or 409 (an equal entry was already logged; `entry` is that one). Resolves only after the
//       entry is on stable storage (fsync, group commit). Rejects with VouchError TLOG_ENTRY_INVALID (details:
//       {status, code} for the HTTP answer) on bad input, which changes nothing; TLOG_UNAVAILABLE when storage fails.
//   log.getByUuid(uuidOrEntryId)   // 64-hex leaf hash or 80-hex tree-ID-prefixed entry ID -> LogEntry | undefined
//   log.getByIndex(i)              // -> LogEntry | undefined
//       A LogEntry is Rekor's LogEntryAnon (body, integratedTime, logID, logIndex, verification {signedEntryTimestamp,
//       inclusionProof {checkpoint, hashes, logIndex, rootHash, treeSize}}) plus uuid and entryId. Its proof is
//       against the current tree size and its checkpoint is freshly signed for that size.
//   log.info()                     // {rootHash, treeSize, signedTreeHead, treeID}
//   log.consistencyProof(first, last) // {rootHash, hashes}; rejects bad sizes with TLOG_ENTRY_INVALID {status, code}
//   log.searchIndex({hash: 'sha256:…'} | {publicKey: {format:'x509', content: b64 PEM}}, operator?) // entry IDs
//   log.publicKey, log.publicKeyPem, log.logId (hex), log.name, log.origin, log.treeId, log.createdAt
//   await log.close()              // flushes what is queued, fsyncs, releases the lock
//
// Identity of the log: an ECDSA P-256 key created on first open (DIR/log.key, PKCS#8 PEM, mode 0600); logID = sha256 of
// its SPKI DER. DIR/log.json holds the name (checkpoint signer, see signed.ts for the naming rule), the tree ID and
// the creation time (the trusted root's validFor.start). They never change after creation; reopening with another
// name is refused, because checkpoints already handed out name the log. integratedTime never goes backwards, also
// across restarts and clock steps (max of the clock and the last logged time).
import { randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, keyId, parsePrivateKey, publicKeyOf, publicKeyPem } from '../attest/keys.ts';
import { VouchError, errorMessage } from '../common/errors.ts';
import { logger, type Logger } from '../common/log.ts';
import { canonicalizeProposedEntry, entryError, publicKeyIndexKey, OPENAPI_PATTERN } from './entries.ts';
import { MerkleTree, hashLeaf } from './merkle.ts';
import { isValidLogName, signCheckpoint, signSet } from './signed.ts';
import { writeFileDurable } from '../common/durable.ts';
import { encodeRecord, LogStorage, MAX_BATCH_BYTES, type StoredRecord } from './storage.ts';
import type { ConsistencyProofJSON, LogEntry, LogInfo, SearchIndexQuery, SubmitResult } from './types.ts';

export type { ConsistencyProofJSON, LogEntry, LogInfo, SearchIndexQuery, SubmitResult } from './types.ts';

export const DEFAULT_LOG_NAME = 'localhost';

export interface EmbeddedLogOptions {
  /** checkpoint signer name, fixed when the log is created (default "localhost"); must not contain whitespace */
  name?: string;
  /** wall clock in milliseconds (tests) */
  now?: () => number;
  logger?: Logger;
}

interface LogMeta {
  version: 1;
  name: string;
  /** decimal, like Rekor's tree IDs */
  treeID: string;
  createdAt: string;
}

interface Pending {
  body: Buffer;
  leaf: Buffer;
  indexKeys: string[];
  resolve: (r: SubmitResult) => void;
  reject: (e: unknown) => void;
}

export class EmbeddedLog {
  private readonly tree = new MerkleTree();
  /** leaf hash (latin1 string of the 32 bytes) -> index */
  private readonly byLeaf = new Map<string, number>();
  /** index key -> indices */
  private readonly byKey = new Map<string, number | number[]>();
  private readonly offsets: number[] = [];
  private readonly times: number[] = [];
  private lastTime = 0;
  private queue: Pending[] = [];
  /** submissions queued or being written, by leaf: a concurrent duplicate waits for the first */
  private readonly inFlight = new Map<string, Promise<SubmitResult>>();
  private flushing: Promise<void> | undefined;
  private failed: VouchError | undefined;
  private closed = false;
  private cpCache: { size: number; text: string } | undefined;
  private storage!: LogStorage;

  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  /** hex sha256 of the SPKI DER */
  readonly logId: string;
  readonly logIdBytes: Buffer;
  readonly name: string;
  readonly treeId: string;
  /** 16 hex digits: the tree ID as it prefixes entry IDs */
  readonly treeIdHex: string;
  readonly origin: string;
  readonly createdAt: Date;

  readonly dir: string;
  private readonly key: KeyObject;
  private readonly now: () => number;
  private readonly log: Logger;

  private constructor(dir: string, key: KeyObject, meta: LogMeta, now: () => number, log: Logger) {
    this.dir = dir;
    this.key = key;
    this.now = now;
    this.log = log;
    this.publicKey = publicKeyOf(key);
    this.publicKeyPem = publicKeyPem(key);
    this.logId = keyId(key);
    this.logIdBytes = Buffer.from(this.logId, 'hex');
    this.name = meta.name;
    this.treeId = meta.treeID;
    this.treeIdHex = BigInt(meta.treeID).toString(16).padStart(16, '0');
    this.origin = `${meta.name} - ${meta.treeID}`;
    this.createdAt = new Date(meta.createdAt);
    // entries never predate the log (the trusted root's validity start)
    this.lastTime = Math.floor(this.createdAt.getTime() / 1000);
  }

  static async open(dir: string, opts: EmbeddedLogOptions = {}): Promise<EmbeddedLog> {
    if (opts.name !== undefined && !isValidLogName(opts.name)) {
      throw new VouchError('USAGE', `log name ${JSON.stringify(opts.name)} is not valid: it must be non-empty with no whitespace (it signs checkpoints)`);
    }
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const now = opts.now ?? Date.now;
    const key = await loadOrCreateKey(dir);
    const meta = await loadOrCreateMeta(dir, opts.name, now);
    const log = new EmbeddedLog(dir, key, meta, now, (opts.logger ?? logger()).child({ component: 'tlog' }));
    const { storage, replay } = await LogStorage.open(dir, (rec, offset) => {
      log.index(rec, offset);
    });
    log.storage = storage;
    if (replay.truncatedBytes > 0) log.log.warn({ dir, bytes: replay.truncatedBytes }, 'cut a torn tail write off the log (never acknowledged)');
    log.log.debug({ dir, entries: replay.records, logID: log.logId }, 'log opened');
    return log;
  }

  /** Adds a stored record to the in-memory tree and indexes. */
  private index(rec: StoredRecord, offset: number): number {
    const i = this.tree.size;
    const leaf = hashLeaf(rec.body);
    this.tree.appendLeafHash(leaf);
    const lk = leaf.toString('latin1');
    if (!this.byLeaf.has(lk)) this.byLeaf.set(lk, i);
    this.offsets.push(offset);
    this.times.push(rec.integratedTime);
    if (rec.integratedTime > this.lastTime) this.lastTime = rec.integratedTime;
    for (const k of rec.indexKeys) {
      const cur = this.byKey.get(k);
      if (cur === undefined) this.byKey.set(k, i);
      else if (typeof cur === 'number') this.byKey.set(k, [cur, i]);
      else cur.push(i);
    }
    return i;
  }

  get size(): number {
    return this.tree.size;
  }

  async submit(proposedEntry: unknown): Promise<SubmitResult> {
    if (this.closed) throw new VouchError('TLOG_UNAVAILABLE', 'the log is closed');
    if (this.failed) throw this.failed;
    const entry = canonicalizeProposedEntry(proposedEntry);
    const leaf = hashLeaf(entry.body);
    const lk = leaf.toString('latin1');
    const existing = this.byLeaf.get(lk);
    if (existing !== undefined) return this.conflict(existing);
    const inFlight = this.inFlight.get(lk);
    if (inFlight) {
      const first = await inFlight;
      return this.conflict(first.entry.logIndex);
    }
    const p = new Promise<SubmitResult>((resolve, reject) => {
      this.queue.push({ body: entry.body, leaf, indexKeys: entry.indexKeys, resolve, reject });
    });
    this.inFlight.set(lk, p);
    p.then(
      () => this.inFlight.delete(lk),
      () => this.inFlight.delete(lk),
    );
    this.kick();
    return p;
  }

  private conflict(index: number): SubmitResult {
    const entry = this.entryAt(index);
    return { status: 409, uuid: entry.uuid, entry };
  }

  /** Starts the group-commit loop unless it runs: every batch is one write and one fsync. */
  private kick(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => {
      // let submissions of this tick join the first batch
      setImmediate(() => {
        void this.flushLoop().finally(() => {
          this.flushing = undefined;
          resolve();
          if (this.queue.length > 0 && !this.failed) this.kick();
        });
      });
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.body.length < MAX_BATCH_BYTES)) {
        bytes += this.queue[n]!.body.length;
        n++;
      }
      const batch = this.queue.slice(0, n);
      this.queue = this.queue.slice(n);
      const time = Math.max(Math.floor(this.now() / 1000), this.lastTime);
      let offsets: number[];
      try {
        const records = batch.map((p) => encodeRecord({ integratedTime: time, body: p.body, indexKeys: p.indexKeys }));
        offsets = await this.storage.appendBatch(records);
      } catch (err) {
        const e = err instanceof VouchError ? err : new VouchError('TLOG_UNAVAILABLE', `log storage failed: ${errorMessage(err)}`, { cause: err });
        if (e.code === 'TLOG_UNAVAILABLE') {
          this.failed = e;
          for (const p of [...batch, ...this.queue]) p.reject(e);
          this.queue = [];
          this.log.error({ err: e }, 'log storage failed; refusing further entries until reopened');
          return;
        }
        for (const p of batch) p.reject(e);
        continue;
      }
      const indices = batch.map((p, i) => this.index({ integratedTime: time, body: p.body, indexKeys: p.indexKeys }, offsets[i]!));
      for (let i = 0; i < batch.length; i++) {
        try {
          const entry = this.buildEntry(indices[i]!, batch[i]!.body, time);
          batch[i]!.resolve({ status: 201, uuid: entry.uuid, entry });
        } catch (err) {
          batch[i]!.reject(err);
        }
      }
    }
  }

  /** The signed checkpoint for `size` (cached for the latest size: ECDSA signatures are randomised but all valid). */
  checkpoint(size: number = this.tree.size): string {
    if (this.cpCache?.size === size) return this.cpCache.text;
    const text = signCheckpoint(this.key, this.logIdBytes, this.name, this.origin, size, this.tree.root(size));
    if (size === this.tree.size) this.cpCache = { size, text };
    return text;
  }

  private buildEntry(index: number, body: Buffer, integratedTime: number): LogEntry {
    const size = this.tree.size;
    const leaf = this.tree.leafHash(index);
    const uuid = leaf.toString('hex');
    const b64 = body.toString('base64');
    const signedEntryTimestamp = signSet(this.key, { body: b64, integratedTime, logID: this.logId, logIndex: index });
    return {
      uuid,
      entryId: this.treeIdHex + uuid,
      body: b64,
      integratedTime,
      logID: this.logId,
      logIndex: index,
      verification: {
        signedEntryTimestamp,
        inclusionProof: {
          checkpoint: this.checkpoint(size),
          hashes: this.tree.inclusionProof(index, size).map((h) => h.toString('hex')),
          logIndex: index,
          rootHash: this.tree.root(size).toString('hex'),
          treeSize: size,
        },
      },
    };
  }

  private entryAt(index: number): LogEntry {
    const rec = this.storage.read(this.offsets[index]!);
    return this.buildEntry(index, rec.body, this.times[index]!);
  }

  getByIndex(index: number): LogEntry | undefined {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.tree.size) return undefined;
    return this.entryAt(index);
  }

  /** By 64-hex UUID (leaf hash) or 80-hex entry ID (this log's tree ID, then the UUID). */
  getByUuid(id: string): LogEntry | undefined {
    const uuid = this.uuidOf(id);
    if (uuid === undefined) return undefined;
    const index = this.byLeaf.get(Buffer.from(uuid, 'hex').toString('latin1'));
    return index === undefined ? undefined : this.entryAt(index);
  }

  /** The 64-hex UUID in an ID, or undefined when the ID is malformed or names another tree. */
  uuidOf(id: string): string | undefined {
    const lower = id.toLowerCase();
    if (/^[0-9a-f]{64}$/.test(lower)) return lower;
    if (/^[0-9a-f]{80}$/.test(lower) && lower.startsWith(this.treeIdHex)) return lower.slice(16);
    return undefined;
  }

  info(): LogInfo {
    const size = this.tree.size;
    return { rootHash: this.tree.root(size).toString('hex'), treeSize: size, signedTreeHead: this.checkpoint(size), treeID: this.treeId };
  }

  /** Rekor's GET /api/v1/log/proof: consistency between sizes first and last (1 <= first <= last <= size). */
  consistencyProof(first: number, last: number): ConsistencyProofJSON {
    if (!Number.isSafeInteger(first) || first < 1) throw entryError('firstSize in query should be greater than or equal to 1', 422, 609);
    if (!Number.isSafeInteger(last) || last < 1) throw entryError('lastSize in query should be greater than or equal to 1', 422, 609);
    if (first > last) throw entryError(`firstSize(${first}) must be less than lastSize(${last})`);
    if (last > this.tree.size) throw entryError(`the tree size requested(${last}) was greater than what is currently observable(${this.tree.size})`);
    return { rootHash: this.tree.root(last).toString('hex'), hashes: this.tree.consistencyProof(first, last).map((h) => h.toString('hex')) };
  }

  /** Rekor's POST /api/v1/index/retrieve: entry IDs whose index keys match (union, or intersection with "and"). */
  searchIndex(query: SearchIndexQuery): string[] {
    const sets: number[][] = [];
    if (query.hash !== undefined && query.hash !== '') sets.push(this.lookup(normalizeHashKey(query.hash)));
    if (query.publicKey !== undefined) {
      if (query.publicKey.format !== 'x509') throw entryError('the PKI format requested is not supported by this server');
      if (query.publicKey.url !== undefined && query.publicKey.url !== '') throw entryError('this log does not fetch public keys by URL; give publicKey.content');
      if (typeof query.publicKey.content !== 'string') throw entryError('public key provided could not be parsed');
      let key: string;
      try {
        key = publicKeyIndexKey(query.publicKey.content);
      } catch {
        throw entryError('public key provided could not be parsed');
      }
      sets.push(this.lookup(key));
    }
    if (query.email !== undefined && query.email !== '') sets.push(this.lookup(query.email.toLowerCase()));
    let result: number[];
    if (query.operator === 'and' && sets.length > 0) {
      result = sets.reduce((acc, s) => acc.filter((x) => s.includes(x)));
    } else {
      result = [...new Set(sets.flat())];
    }
    return [...new Set(result)].sort((a, b) => a - b).map((i) => this.treeIdHex + this.tree.leafHash(i).toString('hex'));
  }

  private lookup(key: string): number[] {
    const v = this.byKey.get(key);
    return v === undefined ? [] : typeof v === 'number' ? [v] : [...v];
  }

  /** Waits for every queued entry to be written and fsynced, then closes the storage. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.storage.close();
  }
}

/** `sha256:<hex>`, or bare hex whose length says the algorithm (as Rekor's util.PrefixSHA); lowercased. */
export function normalizeHashKey(hash: string): string {
  const h = hash.toLowerCase();
  const m = /^(?:(sha256|sha1|sha512):)?([0-9a-f]+)$/.exec(h);
  const lengths: Record<string, number> = { sha1: 40, sha256: 64, sha512: 128 };
  if (!m) throw entryError(`hash in body should match '^(sha512:)?[0-9a-fA-F]{128}$|^(sha256:)?[0-9a-fA-F]{64}$|^(sha1:)?[0-9a-fA-F]{40}$'`, 422, OPENAPI_PATTERN);
  const hex = m[2]!;
  const alg = m[1] ?? Object.keys(lengths).find((a) => lengths[a] === hex.length);
  if (alg === undefined || lengths[alg] !== hex.length) {
    throw entryError(`hash in body should match '^(sha512:)?[0-9a-fA-F]{128}$|^(sha256:)?[0-9a-fA-F]{64}$|^(sha1:)?[0-9a-fA-F]{40}$'`, 422, OPENAPI_PATTERN);
  }
  return `${alg}:${hex}`;
}

async function loadOrCreateKey(dir: string): Promise<KeyObject> {
  const path = join(dir, 'log.key');
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new VouchError('IO', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    const pair = generateKeyPair();
    await writeFileDurable(dir, 'log.key', pair.privateKeyPem, 0o600);
    pem = pair.privateKeyPem;
  }
  const key = parsePrivateKey(pem, path);
  if (key.asymmetricKeyType !== 'ec') throw new VouchError('KEY_INVALID', `${path}: the log key must be ECDSA P-256`);
  return key;
}

async function loadOrCreateMeta(dir: string, name: string | undefined, now: () => number): Promise<LogMeta> {
  const path = join(dir, 'log.json');
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new VouchError('IO', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (text === undefined) {
    // a random positive int63, as Trillian tree IDs are
    const treeID = (randomBytes(8).readBigUInt64BE() >> 1n).toString();
    const createdAt = new Date(Math.floor(now() / 1000) * 1000).toISOString();
    const meta: LogMeta = { version: 1, name: name ?? DEFAULT_LOG_NAME, treeID, createdAt };
    await writeFileDurable(dir, 'log.json', `${JSON.stringify(meta, null, 2)}\n`, 0o644);
    return meta;
  }
  let meta: LogMeta;
  try {
    meta = JSON.parse(text) as LogMeta;
  } catch {
    throw new VouchError('TLOG_CORRUPT', `${path} is not valid JSON`);
  }
  if (meta.version !== 1 || typeof meta.name !== 'string' || !isValidLogName(meta.name) || typeof meta.treeID !== 'string' || !/^[0-9]+$/.test(meta.treeID) || Number.isNaN(Date.parse(meta.createdAt))) {
    throw new VouchError('TLOG_CORRUPT', `${path} is not a vouch log description`);
  }
  if (name !== undefined && name !== meta.name) {
    throw new VouchError('USAGE', `the log in ${dir} is named ${JSON.stringify(meta.name)}; its checkpoints carry that name, so it cannot be renamed to ${JSON.stringify(name)}`);
  }
  return meta;
}

/** What names a log to its verifiers: enough to build a trusted root or verify entries. EmbeddedLog has it too. */
export interface LogIdentity {
  publicKey: KeyObject;
  publicKeyPem: string;
  logId: string;
  name: string;
  treeId: string;
  origin: string;
  createdAt: Date;
}

/** Reads a log's identity from its data directory without opening (or locking) it: a running server may hold it. */
export async function readLogIdentity(dir: string): Promise<LogIdentity> {
  const keyPath = join(dir, 'log.key');
  let pem: string;
  try {
    pem = await readFile(keyPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VouchError(code === 'ENOENT' ? 'USAGE' : 'IO', code === 'ENOENT' ? `${dir} holds no log (no log.key); start one with \`vouch log serve --data ${dir}\`` : `cannot read ${keyPath}: ${code ?? 'error'}`);
  }
  const key = parsePrivateKey(pem, keyPath);
  const meta = await loadOrCreateMeta(dir, undefined, () => {
    throw new VouchError('USAGE', `${dir} holds no log.json`);
  });
  return {
    publicKey: publicKeyOf(key),
    publicKeyPem: publicKeyPem(key),
    logId: keyId(key),
    name: meta.name,
    treeId: meta.treeID,
    origin: `${meta.name} - ${meta.treeID}`,
    createdAt: new Date(meta.createdAt),
  };
}
