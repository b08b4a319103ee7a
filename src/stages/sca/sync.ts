// `vouch osv sync`: fills an OSV database directory from osv.dev's public per-ecosystem export
// (`<base>/<Ecosystem>/all.zip`, one `<id>.json` per advisory). Each ecosystem is downloaded, every record checked
// as the scan would check it, written beside the old folder and swapped in with renames: a failed or partial
// download never replaces (or damages) the database the scans use.
import { mkdtempSync, renameSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { parseOsvRecord } from './osv.ts';

export const OSV_EXPORT_BASE = 'https://osv-vulnerabilities.storage.googleapis.com';

export interface SyncedEcosystem {
  ecosystem: string;
  url: string;
  records: number;
  newestModified: string | undefined;
}

/** An ecosystem name as osv.dev names its export folders (npm, PyPI, crates.io, Go, Maven, …). */
const ECOSYSTEM = /^[A-Za-z0-9][A-Za-z0-9.:_-]*$/;

async function download(url: string, timeoutMs: number): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new VouchError('OSV_DATABASE_UNAVAILABLE', `cannot download ${url}: ${errorMessage(err)}`, { cause: err, details: { url } });
  }
  if (!response.ok) throw new VouchError('OSV_DATABASE_UNAVAILABLE', `cannot download ${url}: HTTP ${String(response.status)}`, { details: { url, status: response.status } });
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (err) {
    throw new VouchError('OSV_DATABASE_UNAVAILABLE', `download of ${url} broke off: ${errorMessage(err)}`, { cause: err, details: { url } });
  }
}

/** Downloads, checks and swaps in one ecosystem's records under `dir/<ecosystem>/`. */
export async function syncEcosystem(dir: string, ecosystem: string, options: { baseUrl?: string; timeoutMs?: number } = {}): Promise<SyncedEcosystem> {
  if (!ECOSYSTEM.test(ecosystem)) throw new VouchError('USAGE', `--ecosystem ${JSON.stringify(ecosystem)} is not an OSV ecosystem name`);
  const url = `${(options.baseUrl ?? OSV_EXPORT_BASE).replace(/\/+$/, '')}/${encodeURIComponent(ecosystem)}/all.zip`;
  const zip = await download(url, options.timeoutMs ?? 600_000);
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip);
  } catch (err) {
    throw new VouchError('OSV_DATABASE_UNAVAILABLE', `${url} is not a readable zip (truncated download?): ${errorMessage(err)}`, { cause: err, details: { url } });
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let newest = -Infinity;
  let newestModified: string | undefined;
  const files: [string, Uint8Array][] = [];
  for (const [name, bytes] of Object.entries(entries)) {
    if (name.endsWith('/')) continue;
    const where = `${url}!${name}`;
    // the export is flat: a path in an entry name would write outside the folder
    if (!/^[^/\\]+\.json$/.test(name) || name.startsWith('.')) throw new VouchError('OSV_RECORD_INVALID', `${where}: unexpected entry name in the export`, { details: { file: where } });
    let doc: unknown;
    try {
      doc = JSON.parse(decoder.decode(bytes));
    } catch (err) {
      throw new VouchError('OSV_RECORD_INVALID', `${where}: not a valid OSV record: ${errorMessage(err)}`, { cause: err, details: { file: where } });
    }
    const record = parseOsvRecord(where, doc);
    const t = Date.parse(record.modified);
    if (t > newest) {
      newest = t;
      newestModified = record.modified;
    }
    files.push([name, bytes]);
  }
  if (files.length === 0) throw new VouchError('OSV_DATABASE_UNAVAILABLE', `${url} holds no records; the database was left as it was`, { details: { url } });

  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(join(dir, `.${ecosystem}.new-`));
  const target = join(dir, ecosystem);
  const old = `${staging}.old`;
  try {
    for (const [name, bytes] of files) writeFileSync(join(staging, name), bytes);
    if (existsSync(target)) renameSync(target, old);
    renameSync(staging, target);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(old) && !existsSync(target)) renameSync(old, target);
    throw new VouchError('IO', `cannot write the OSV database ${target}: ${errorMessage(err)}`, { cause: err });
  }
  rmSync(old, { recursive: true, force: true });
  return { ecosystem, url, records: files.length, newestModified };
}
