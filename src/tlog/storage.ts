import { crc32 } from 'node:zlib';
import { VouchError } from '../common/errors.ts';
import { Journal, RECORD_HEADER, type ReplayInfo } from '../common/journal.ts';

export { type ReplayInfo } from '../common/journal.ts';

// Durable, append-only storage of log entries in one file, DIR/entries.log: the record codec of the log on top of the
// generic journal (src/common/journal.ts: framing, checksums, group commit with one write + fdatasync per batch,
// torn-tail truncation, refusal of damage, lock file).
//
// File:    a 16-byte header "vouch-tlog v1\n\0\0" then journal records (u32 BE length | u32 BE crc32 | payload)
// Payload: u64 BE integratedTime (Unix seconds) | u32 BE body length | body | index keys (UTF-8 JSON array)

const MAGIC = Buffer.from('vouch-tlog v1\n\0\0', 'latin1');
export const HEADER_SIZE = MAGIC.length;
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

/** A log entry as a framed journal record. */
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

export class LogStorage {
  private readonly journal: Journal;

  private constructor(journal: Journal) {
    this.journal = journal;
  }

  get path(): string {
    return this.journal.path;
  }

  /**
   * Opens (creating when absent) DIR/entries.log, replays every record in order through `onRecord(record, offset)`,
   * truncating a torn tail.
   */
  static async open(dir: string, onRecord: (rec: StoredRecord, offset: number) => void): Promise<{ storage: LogStorage; replay: ReplayInfo }> {
    const { journal, replay } = await Journal.open(
      {
        dir,
        file: 'entries.log',
        magic: MAGIC,
        what: 'the log',
        minPayloadBytes: PAYLOAD_FIXED,
        maxRecordBytes: MAX_RECORD_BYTES,
        maxBatchBytes: MAX_BATCH_BYTES,
        codes: { unavailable: 'TLOG_UNAVAILABLE', corrupt: 'TLOG_CORRUPT' },
      },
      (payload, offset) => {
        const rec = decodePayload(payload);
        if (!rec) return false;
        onRecord(rec, offset);
        return true;
      },
    );
    return { storage: new LogStorage(journal), replay };
  }

  get size(): number {
    return this.journal.size;
  }

  /** Appends records (encodeRecord) with one write and one fdatasync; resolves once they are on stable storage. */
  appendBatch(records: Buffer[]): Promise<number[]> {
    return this.journal.appendBatch(records);
  }

  /** Reads the record at `offset` (as returned by appendBatch or replay). */
  read(offset: number): StoredRecord {
    const rec = decodePayload(this.journal.read(offset));
    if (!rec) throw new VouchError('TLOG_CORRUPT', `record at offset ${offset} of ${this.path} fails its checksum`);
    return rec;
  }

  close(): Promise<void> {
    return this.journal.close();
  }
}
