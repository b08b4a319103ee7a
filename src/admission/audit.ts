// The webhook's append-only audit log (JSON lines, one decision per AdmissionReview; written by webhook.ts), read
// back by `vouch audit` for the decisions about one digest.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { errorMessage, VouchError } from '../common/errors.ts';

export interface AuditRecord {
  time: string;
  uid: string;
  operation: string;
  kind: string;
  namespace: string;
  name: string;
  user: string;
  allowed: boolean;
  breakGlass: boolean;
  images: { image: string; digest: string; allowed: boolean; via: string; reasons: string[]; warnings: string[] }[];
}

/** Decisions that judged this digest, oldest first. A missing log is no decisions; a damaged line is skipped and counted. */
export async function readAuditLog(path: string, digest: string): Promise<{ records: AuditRecord[]; damagedLines: number }> {
  const records: AuditRecord[] = [];
  let damagedLines = 0;
  try {
    const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() === '' || !line.includes(digest)) continue;
      try {
        const r = JSON.parse(line) as AuditRecord;
        if (Array.isArray(r.images) && r.images.some((i) => i.digest === digest)) records.push(r);
      } catch {
        damagedLines++;
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records, damagedLines };
    throw new VouchError('IO', `cannot read the admission audit log ${path}: ${errorMessage(err)}`);
  }
  return { records, damagedLines };
}
