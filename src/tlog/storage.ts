import { closeSync, constants, fsyncSync, openSync, readSync, type PathLike } from 'node:fs';
import { mkdir, open, readFile, rename, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { VouchError, errorMessage } from '../common/errors.ts';

// Durable, append-only storage of log entries in one file, DIR/entries.log.
//
// File:    a 16-byte header "vouch-tlog v1\n\0\0" then records, back to back.
// Record:  u32 BE payload length | u32 BE crc32(payload) | payload
// Payload: u64 BE integratedTime (Unix seconds) | u32 BE body length | body | index keys (UTF-8 JSON array)
//
// appendBatch writes many records with one write and one fdatasync (the log's group commit); a batch is acknowledged
// only after fdatasync returns, so an acknowledged record survives kill -9 and power loss. A crash can leave only a
// torn tail: part of the last batch, never acknowledged. open() replays every record, checking length and checksum,
// and truncates a torn tail (then fsyncs). A bad region larger than any batch could be is not a torn write but damage:
// open() refuses it (TLOG_CORRUPT) rather than drop acknowledged entries. After a failed write or fsync the file's
// state is unknown (fsync errors are not retried), so the storage refuses further appends until reopened.
// A lock file (DIR/LOCK, holding the pid) keeps a second process or a second open in this process out.

const MAGIC = Buffer.from('vouch-tlog v1\n\0\0', 'latin1');
export const HEADER_SIZE = MAGIC.length;
const RECORD_HEADER = 8;
const PAYLOAD_FIXED = 12;
/** Largest record accepted on replay; the server's request limit keeps real records far below it. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;
/** Batches are cut at about this many bytes (a single larger record makes a batch of its own). */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export interface StoredRecord {
  integratedTime: number;
  body: Buffer;
  indexKeys: string[];
}

export interface ReplayInfo {
  records: number;
  /** bytes of a torn tail that open() cut off (0 when the file ended on a record boundary) */
  truncatedBytes: number;
}

export function encodeRecord(rec: StoredRecord): Buffer {
  const keys = Buffer.from(JSON.stringify(rec.indexKeys), 'utf8');
  const payloadLen = PAYLOAD_FIXED + rec.body.length + keys.length;
  if (payloadLen > MAX_RECORD_BYTES) throw new VouchError('TLOG_ENTRY_INVALID', `entry too large to store (${payloadLen} bytes)`);
  const out = Buffer.allocUnsafe(RECORD_HEADER + payloadLen);
  out.writeUInt32BE(payloadLen, 0);
  out.writeBigUInt64BE(BigInt(rec.integratedTime), RECORD_HEADER);
  out.writeUInt32BE(rec.body.length, RECORD_HEADER + 8);
  rec.body.copy(out, RECORD_HEADER + PAYLOAD_FIXED);
  keys.copy(out, RECORD_HEADER + PAYLOAD_FIXED + rec.body.length);
  out.writeUInt32BE(crc32(out.subarray(RECORD_HEADER)), 4);
  return out;
}

/** Decodes a payload whose checksum matched; undefined when its inner structure is wrong. */
function decodePayload(payload: Buffer): StoredRecord | undefined {
  if (payload.length < PAYLOAD_FIXED) return undefined;
  const integratedTime = Number(payload.readBigUInt64BE(0));
  const bodyLen = payload.readUInt32BE(8);
  if (PAYLOAD_FIXED + bodyLen > payload.length) return undefined;
  const body = Buffer.from(payload.subarray(PAYLOAD_FIXED, PAYLOAD_FIXED + bodyLen));
  let indexKeys: unknown;
  try {
    indexKeys = JSON.parse(payload.subarray(PAYLOAD_FIXED + bodyLen).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(indexKeys) || !indexKeys.every((k) => typeof k === 'string')) return undefined;
  return { integratedTime, body, indexKeys: indexKeys };
}

/** fsync a directory so that a file created or renamed in it is durable. */
export function fsyncDir(dir: PathLike): void {
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a file durably and atomically: temp file, fsync, rename, fsync the directory. */
export async function writeFileDurable(dir: string, name: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = join(dir, `.${name}.tmp-${process.pid}`);
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, name));
  fsyncDir(dir);
}

const openDirs = new Set<string>();

async function acquireLock(dir: string): Promise<string> {
  const lockPath = join(dir, 'LOCK');
  if (openDirs.has(lockPath)) throw new VouchError('TLOG_UNAVAILABLE', `the log in ${dir} is already open in this process`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      openDirs.add(lockPath);
      return lockPath;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new VouchError('IO', `cannot create ${lockPath}: ${errorMessage(err)}`, { cause: err });
      const pid = Number.parseInt((await readFile(lockPath, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new VouchError('TLOG_UNAVAILABLE', `the log in ${dir} is in use by process ${pid} (lock file ${lockPath})`);
      }
      // stale lock of a process that died (kill -9, power loss): take it over
      await unlink(lockPath).catch(() => undefined);
    }
  }
  throw new VouchError('TLOG_UNAVAILABLE', `cannot lock ${lockPath}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class LogStorage {
  private failed: VouchError | undefined;
  private closed = false;

  readonly path: string;
  private readonly fh: FileHandle;
  private readonly lockPath: string;
  /** end of the last complete record: where the next batch goes */
  private end: number;

  private constructor(path: string, fh: FileHandle, lockPath: string, end: number) {
    this.path = path;
    this.fh = fh;
    this.lockPath = lockPath;
    this.end = end;
  }

  /**
   * Opens (creating when absent) DIR/entries.log, replays every record in order through `onRecord(record, offset)`,
   * truncating a torn tail. The directory must exist.
   */
  static async open(dir: string, onRecord: (rec: StoredRecord, offset: number) => void): Promise<{ storage: LogStorage; replay: ReplayInfo }> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const lockPath = await acquireLock(dir);
    try {
      const path = join(dir, 'entries.log');
      let fh: FileHandle;
      let created = false;
      try {
        fh = await open(path, 'r+');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        fh = await open(path, 'wx+', 0o600);
        await fh.write(MAGIC, 0, MAGIC.length, 0);
        await fh.sync();
        fsyncDir(dir);
        created = true;
      }
      let replay: { records: number; truncatedBytes: number; end: number };
      try {
        replay = created ? { records: 0, truncatedBytes: 0, end: HEADER_SIZE } : await replayFile(fh, path, onRecord);
      } catch (err) {
        await fh.close();
        throw err;
      }
      return { storage: new LogStorage(path, fh, lockPath, replay.end), replay: { records: replay.records, truncatedBytes: replay.truncatedBytes } };
    } catch (err) {
      openDirs.delete(lockPath);
      await unlink(lockPath).catch(() => undefined);
      if (err instanceof VouchError) throw err;
      throw new VouchError('IO', `cannot open the log storage in ${dir}: ${errorMessage(err)}`, { cause: err });
    }
  }

  get size(): number {
    return this.end;
  }

  /**
   * Appends encoded records with one write and one fdatasync and returns the offset of each. Resolves only once the
   * data is on stable storage.
   */
  async appendBatch(records: Buffer[]): Promise<number[]> {
    if (this.closed) throw new VouchError('TLOG_UNAVAILABLE', 'the log is closed');
    if (this.failed) throw this.failed;
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
      this.failed = new VouchError('TLOG_UNAVAILABLE', `log storage write failed; reopen the log to recover: ${errorMessage(err)}`, { cause: err });
      await this.fh.truncate(start).catch(() => undefined);
      throw this.failed;
    }
    this.end = at;
    return offsets;
  }

  /** Reads the record at `offset` (as returned by appendBatch or replay). */
  read(offset: number): StoredRecord {
    const header = Buffer.allocUnsafe(RECORD_HEADER);
    this.readExactly(header, offset);
    const len = header.readUInt32BE(0);
    const payload = Buffer.allocUnsafe(len);
    this.readExactly(payload, offset + RECORD_HEADER);
    const rec = crc32(payload) === header.readUInt32BE(4) ? decodePayload(payload) : undefined;
    if (!rec) throw new VouchError('TLOG_CORRUPT', `record at offset ${offset} of ${this.path} fails its checksum`);
    return rec;
  }

  private readExactly(buf: Buffer, position: number): void {
    let done = 0;
    while (done < buf.length) {
      const n = readSync(this.fh.fd, buf, done, buf.length - done, position + done);
      if (n === 0) throw new VouchError('TLOG_CORRUPT', `unexpected end of ${this.path} at ${position + done}`);
      done += n;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.failed) await this.fh.sync();
    } finally {
      await this.fh.close();
      openDirs.delete(this.lockPath);
      await unlink(this.lockPath).catch(() => undefined);
    }
  }
}

async function replayFile(fh: FileHandle, path: string, onRecord: (rec: StoredRecord, offset: number) => void): Promise<{ records: number; truncatedBytes: number; end: number }> {
  const { size } = await fh.stat();
  const magic = Buffer.alloc(HEADER_SIZE);
  await fh.read(magic, 0, HEADER_SIZE, 0);
  if (size < HEADER_SIZE || !magic.equals(MAGIC)) {
    throw new VouchError('TLOG_CORRUPT', `${path} is not a vouch log file (bad header)`);
  }
  const CHUNK = 8 * 1024 * 1024;
  let buf = Buffer.alloc(0);
  let bufStart = HEADER_SIZE; // file offset of buf[0]
  let readPos = HEADER_SIZE;
  let records = 0;
  let pos = HEADER_SIZE; // file offset of the next record
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
    if (len < PAYLOAD_FIXED || len > MAX_RECORD_BYTES) break;
    if (!(await fill(RECORD_HEADER + len))) break;
    const r = pos - bufStart;
    const payload = buf.subarray(r + RECORD_HEADER, r + RECORD_HEADER + len);
    if (crc32(payload) !== crc) break;
    const rec = decodePayload(payload);
    if (!rec) break;
    onRecord(rec, pos);
    records++;
    pos += RECORD_HEADER + len;
  }
  const tail = size - pos;
  if (tail > 0) {
    if (tail > MAX_BATCH_BYTES + MAX_RECORD_BYTES) {
      throw new VouchError('TLOG_CORRUPT', `${path}: ${tail} bytes after offset ${pos} do not parse; that is more than a torn write can leave, so the file is damaged (refusing to drop them)`);
    }
    await fh.truncate(pos);
    await fh.sync();
  }
  return { records, truncatedBytes: tail, end: pos };
}
