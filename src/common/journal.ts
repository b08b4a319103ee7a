import { readSync } from 'node:fs';
import { mkdir, open, readFile, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from './durable.ts';
import { VouchError, errorMessage, type ErrorCode } from './errors.ts';

// A durable append-only journal in one file (extracted from the transparency log's storage, which it still serves):
//
// File:    a 16-byte magic header chosen by the user (e.g. "vouch-tlog v1\n\0\0") then records, back to back.
// Record:  u32 BE payload length | u32 BE crc32(payload) | payload (opaque bytes to the journal)
//
// appendBatch writes many framed records with one write and one fdatasync; append() queues one payload and lets the
// journal group concurrent appends into such batches (group commit). A promise resolves only after fdatasync returned,
// so an acknowledged record survives kill -9 and power loss. A crash can leave only a torn tail: part of the last
// batch, never acknowledged. open() replays every record, checking length and checksum (and the user's decoder), and
// truncates a torn tail (then fsyncs). A bad region larger than any batch could be is not a torn write but damage:
// open() refuses it (code `corrupt`) rather than drop acknowledged records. After a failed write or fsync the file's
// state is unknown (fsync errors are not retried), so the journal refuses further appends until reopened.
// A lock file (DIR/LOCK, holding the pid) keeps a second process or a second open in this process out.

export const MAGIC_SIZE = 16;
export const RECORD_HEADER = 8;
/** Largest record accepted on replay by default. */
export const DEFAULT_MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Batches are cut at about this many bytes by default (a single larger record makes a batch of its own). */
export const DEFAULT_MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface JournalOptions {
  dir: string;
  /** file name inside dir */
  file: string;
  /** exactly 16 bytes that identify the file format */
  magic: Buffer;
  /** what the journal is, for messages ("the log", "the sidecar inbox") */
  what: string;
  /** smallest valid payload (shorter lengths are treated as a torn write) */
  minPayloadBytes?: number;
  maxRecordBytes?: number;
  maxBatchBytes?: number;
  /** error codes to use (a room keeps its own stable codes): busy/failed, and damaged */
  codes?: { unavailable: ErrorCode; corrupt: ErrorCode };
}

export interface ReplayInfo {
  records: number;
  /** bytes of a torn tail that open() cut off (0 when the file ended on a record boundary) */
  truncatedBytes: number;
}

/**
 * Called for each record on replay; `payload` is a view valid only during the call (copy what you keep). Return false when the payload's inner structure is wrong: replay stops there as
 * at a torn write.
 */
export type OnRecord = (payload: Buffer, offset: number) => boolean | undefined;

/** Frames a payload as a record: length, crc32, payload. */
export function frameRecord(payload: Buffer, maxRecordBytes = DEFAULT_MAX_RECORD_BYTES, code: ErrorCode = 'INPUT_INVALID'): Buffer {
  if (payload.length > maxRecordBytes) throw new VouchError(code, `record too large to store (${payload.length} bytes)`);
  const out = Buffer.allocUnsafe(RECORD_HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32(payload), 4);
  payload.copy(out, RECORD_HEADER);
  return out;
}

const openLocks = new Set<string>();

async function acquireLock(dir: string, what: string, code: ErrorCode): Promise<string> {
  const lockPath = join(dir, 'LOCK');
  if (openLocks.has(lockPath)) throw new VouchError(code, `${what} in ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      openLocks.add(lockPath);
      return lockPath;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new VouchError('IO', `cannot create ${lockPath}: ${errorMessage(err)}`, { cause: err });
      const pid = Number.parseInt((await readFile(lockPath, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new VouchError(code, `${what} in ${dir} is in use by process ${pid} (lock file ${lockPath})`);
      }
      // stale lock of a process that died (kill -9, power loss): take it over
      await unlink(lockPath).catch(() => undefined);
    }
  }
  throw new VouchError(code, `cannot lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

interface Pending {
  record: Buffer;
  resolve: (offset: number) => void;
  reject: (err: unknown) => void;
}

export class Journal {
  readonly path: string;
  private readonly fh: FileHandle;
  private readonly lockPath: string;
  private readonly opts: Required<Omit<JournalOptions, 'codes'>> & { codes: { unavailable: ErrorCode; corrupt: ErrorCode } };
  /** end of the last complete record: where the next batch goes */
  private end: number;
  private failedWith: VouchError | undefined;
  private closed = false;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** writes + fdatasyncs done (group commit makes this far smaller than the records appended) */
  batches = 0;

  private constructor(path: string, fh: FileHandle, lockPath: string, end: number, opts: Journal['opts']) {
    this.path = path;
    this.fh = fh;
    this.lockPath = lockPath;
    this.end = end;
    this.opts = opts;
  }

  /**
   * Opens (creating when absent, with its directory) DIR/FILE, replays every record in order through `onRecord`,
   * truncating a torn tail.
   */
  static async open(options: JournalOptions, onRecord: OnRecord): Promise<{ journal: Journal; replay: ReplayInfo }> {
    if (options.magic.length !== MAGIC_SIZE) throw new VouchError('INTERNAL', `journal magic must be ${MAGIC_SIZE} bytes`);
    const opts: Journal['opts'] = {
      minPayloadBytes: 0,
      maxRecordBytes: DEFAULT_MAX_RECORD_BYTES,
      maxBatchBytes: DEFAULT_MAX_BATCH_BYTES,
      codes: { unavailable: 'JOURNAL_UNAVAILABLE', corrupt: 'JOURNAL_CORRUPT' },
      ...options,
    };
    const { dir } = opts;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lockPath = await acquireLock(dir, opts.what, opts.codes.unavailable);
    try {
      const path = join(dir, opts.file);
      let fh: FileHandle;
      let created = false;
      try {
        fh = await open(path, 'r+');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        fh = await open(path, 'wx+', 0o600);
        await fh.write(opts.magic, 0, MAGIC_SIZE, 0);
        await fh.sync();
        await fsyncDir(dir);
        created = true;
      }
      let replay: { records: number; truncatedBytes: number; end: number };
      try {
        replay = created ? { records: 0, truncatedBytes: 0, end: MAGIC_SIZE } : await replayFile(fh, path, opts, onRecord);
      } catch (err) {
        await fh.close();
        throw err;
      }
      return { journal: new Journal(path, fh, lockPath, replay.end, opts), replay: { records: replay.records, truncatedBytes: replay.truncatedBytes } };
    } catch (err) {
      openLocks.delete(lockPath);
      await unlink(lockPath).catch(() => undefined);
      if (err instanceof VouchError) throw err;
      throw new VouchError('IO', `cannot open ${opts.what} in ${dir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /** bytes in the file up to the last complete record */
  get size(): number {
    return this.end;
  }

  /** true after a failed write or fsync: appends are refused until the journal is reopened */
  get failed(): boolean {
    return this.failedWith !== undefined;
  }

  /** records queued by append() and not yet on stable storage */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Appends framed records (frameRecord) with one write and one fdatasync and returns the offset of each. Resolves
   * only once the data is on stable storage. Not to be mixed with append() while appends are in flight.
   */
  async appendBatch(records: Buffer[]): Promise<number[]> {
    if (this.closed) throw new VouchError(this.opts.codes.unavailable, `${this.opts.what} is closed`);
    if (this.failedWith) throw this.failedWith;
    const start = this.end;
    const offsets: number[] = [];
    let at = start;
    for (const r of records) {
      offsets.push(at);
      at += r.length;
    }
    const data = records.length === 1 ? records[0]! : Buffer.concat(records, at - start);
    try {
      let written = 0;
      while (written < data.length) {
        const { bytesWritten } = await this.fh.write(data, written, data.length - written, start + written);
        written += bytesWritten;
      }
      await this.fh.datasync();
    } catch (err) {
      // the file's state is unknown now (a failed fsync may have dropped dirty pages): stop taking writes
      this.failedWith = new VouchError(this.opts.codes.unavailable, `${this.opts.what}: write failed; reopen to recover: ${errorMessage(err)}`, { cause: err });
      await this.fh.truncate(start).catch(() => undefined);
      throw this.failedWith;
    }
    this.end = at;
    this.batches++;
    return offsets;
  }

  /**
   * Appends one payload with group commit: appends made in the same tick, or while a batch is being written, share
   * the next write and fdatasync. Resolves with the record's offset once it is on stable storage.
   */
  append(payload: Buffer): Promise<number> {
    if (this.closed) return Promise.reject(new VouchError(this.opts.codes.unavailable, `${this.opts.what} is closed`));
    if (this.failedWith) return Promise.reject(this.failedWith);
    let record: Buffer;
    try {
      record = frameRecord(payload, this.opts.maxRecordBytes, 'INPUT_INVALID');
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => {
      // let appends of this tick join the first batch
      setImmediate(() => {
        void this.flushLoop().finally(() => {
          this.flushing = undefined;
          resolve();
          if (this.queue.length > 0 && !this.failedWith) this.kick();
        });
      });
    });
  }

  private async flushLoop(): Promise<void> {
    while (this.queue.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.queue.length && (n === 0 || bytes + this.queue[n]!.record.length < this.opts.maxBatchBytes)) {
        bytes += this.queue[n]!.record.length;
        n++;
      }
      const batch = this.queue.slice(0, n);
      this.queue = this.queue.slice(n);
      try {
        const offsets = await this.appendBatch(batch.map((p) => p.record));
        batch.forEach((p, i) => {
          p.resolve(offsets[i]!);
        });
      } catch (err) {
        for (const p of [...batch, ...this.queue]) p.reject(err);
        this.queue = [];
        return;
      }
    }
  }

  /** Reads the payload of the record at `offset` (as returned by append or replay); `corrupt` when it fails its checksum. */
  read(offset: number): Buffer {
    const header = Buffer.allocUnsafe(RECORD_HEADER);
    this.readExactly(header, offset);
    const len = header.readUInt32BE(0);
    const payload = Buffer.allocUnsafe(len);
    this.readExactly(payload, offset + RECORD_HEADER);
    if (crc32(payload) !== header.readUInt32BE(4)) throw new VouchError(this.opts.codes.corrupt, `record at offset ${offset} of ${this.path} fails its checksum`);
    return payload;
  }

  private readExactly(buf: Buffer, position: number): void {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fh.fd, buf, done, buf.length - done, position + done);
      if (n === 0) throw new VouchError(this.opts.codes.corrupt, `unexpected end of ${this.path} at ${position + done}`);
      done += n;
    }
  }

  /** Waits for queued appends, fsyncs, closes the file and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing) await this.flushing;
    this.closed = true;
    try {
      if (!this.failedWith) await this.fh.sync();
    } finally {
      await this.fh.close();
      openLocks.delete(this.lockPath);
      await unlink(this.lockPath).catch(() => undefined);
    }
  }
}

async function replayFile(fh: FileHandle, path: string, opts: Journal['opts'], onRecord: OnRecord): Promise<{ records: number; truncatedBytes: number; end: number }> {
  const { size } = await fh.stat();
  const magic = Buffer.alloc(MAGIC_SIZE);
  await fh.read(magic, 0, MAGIC_SIZE, 0);
  if (size < MAGIC_SIZE || !magic.equals(opts.magic)) {
    throw new VouchError(opts.codes.corrupt, `${path} is not ${opts.what} file (bad header)`);
  }
  const CHUNK = 8 * 1024 * 1024;
  let buf = Buffer.alloc(0);
  let bufStart = MAGIC_SIZE; // file offset of buf[0]
  let readPos = MAGIC_SIZE;
  let records = 0;
  let pos = MAGIC_SIZE; // file offset of the next record
  const fill = async (need: number): Promise<boolean> => {
    while (bufStart + buf.length < pos + need && readPos < size) {
      const chunk = Buffer.allocUnsafe(Math.min(Math.max(CHUNK, need), size - readPos));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, readPos);
      if (bytesRead === 0) break;
      readPos += bytesRead;
      buf = Buffer.concat([buf.subarray(pos - bufStart), chunk.subarray(0, bytesRead)]);
      bufStart = pos;
    }
    return bufStart + buf.length >= pos + need;
  };
  for (;;) {
    if (pos === size) break;
    if (!(await fill(RECORD_HEADER))) break;
    const rel = pos - bufStart;
    const len = buf.readUInt32BE(rel);
    const crc = buf.readUInt32BE(rel + 4);
    if (len < opts.minPayloadBytes || len > opts.maxRecordBytes) break;
    if (!(await fill(RECORD_HEADER + len))) break;
    const r = pos - bufStart;
    const payload = buf.subarray(r + RECORD_HEADER, r + RECORD_HEADER + len);
    if (crc32(payload) !== crc) break;
    if (onRecord(payload, pos) === false) break;
    records++;
    pos += RECORD_HEADER + len;
  }
  const tail = size - pos;
  if (tail > 0) {
    if (tail > opts.maxBatchBytes + opts.maxRecordBytes) {
      throw new VouchError(opts.codes.corrupt, `${path}: ${tail} bytes after offset ${pos} do not parse; that is more than a torn write can leave, so the file is damaged (refusing to drop them)`);
    }
    await fh.truncate(pos);
    await fh.sync();
  }
  return { records, truncatedBytes: tail, end: pos };
}
