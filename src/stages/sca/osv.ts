// An OSV database on disk in osv.dev's per-ecosystem export layout (`<dir>/<Ecosystem>/<id>.json`, one advisory per
// file), indexed by ecosystem and package name. Every record is checked for the fields matching relies on; a record
// that is not OSV stops the load with its file named (a silently skipped advisory would hide a vulnerability).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VouchError, errorMessage } from '../../common/errors.ts';
import type { OsvAffected, OsvEvent, OsvRange } from './range.ts';

export interface OsvSeverity {
  type: string;
  score: string;
}

export interface OsvAffectedEntry extends OsvAffected {
  package: { ecosystem: string; name: string };
  severity?: OsvSeverity[];
}

export interface OsvRecord {
  id: string;
  modified: string;
  aliases: string[];
  summary: string | undefined;
  severity: OsvSeverity[];
  affected: OsvAffectedEntry[];
  /** database_specific.severity (GitHub's: LOW, MODERATE, HIGH, CRITICAL) */
  databaseSeverity: string | undefined;
  withdrawn: string | undefined;
  file: string;
}

export interface OsvDatabase {
  dir: string;
  /** records loaded (withdrawn ones included) */
  records: number;
  withdrawn: number;
  ecosystems: string[];
  /** newest `modified` of all records: the database is at least this old */
  newestModified: string | undefined;
  /** ecosystem → package name → records affecting it */
  index: Map<string, Map<string, OsvRecord[]>>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function bad(file: string, what: string): VouchError {
  return new VouchError('OSV_RECORD_INVALID', `${file}: not a valid OSV record: ${what}`, { details: { file } });
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function stringList(file: string, v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(file, `${field} must be a list of strings`);
  return v as string[];
}

function severities(file: string, v: unknown, field: string): OsvSeverity[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(file, `${field} must be a list`);
  return v.map((s, i) => {
    if (!isObj(s) || typeof s.type !== 'string' || typeof s.score !== 'string') throw bad(file, `${field}[${String(i)}] needs string type and score`);
    return { type: s.type, score: s.score };
  });
}

function ranges(file: string, v: unknown, at: string): OsvRange[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad(file, `${at}.ranges must be a list`);
  return v.map((r, i) => {
    const where = `${at}.ranges[${String(i)}]`;
    if (!isObj(r) || typeof r.type !== 'string') throw bad(file, `${where}.type is missing`);
    if (!Array.isArray(r.events) || r.events.length === 0) throw bad(file, `${where}.events must be a non-empty list`);
    const events = (r.events as unknown[]).map((e, j) => {
      const keys = isObj(e) ? Object.keys(e) : [];
      const key = keys[0];
      if (!isObj(e) || keys.length !== 1 || key === undefined || !['introduced', 'fixed', 'last_affected', 'limit'].includes(key) || typeof e[key] !== 'string') {
        throw bad(file, `${where}.events[${String(j)}] must have exactly one of introduced, fixed, last_affected, limit (a string)`);
      }
      const event: OsvEvent = { [key]: e[key] };
      return event;
    });
    if (!events.some((e) => e.introduced !== undefined)) throw bad(file, `${where} has no "introduced" event`);
    return { type: r.type, events };
  });
}

export function parseOsvRecord(file: string, doc: unknown): OsvRecord {
  if (!isObj(doc)) throw bad(file, 'not a JSON object');
  if (typeof doc.id !== 'string' || doc.id === '') throw bad(file, '"id" is missing');
  if (typeof doc.modified !== 'string' || !RFC3339.test(doc.modified)) throw bad(file, '"modified" must be an RFC 3339 time');
  if (doc.affected !== undefined && !Array.isArray(doc.affected)) throw bad(file, '"affected" must be a list');
  const affected = ((doc.affected ?? []) as unknown[]).map((a, i): OsvAffectedEntry => {
    const at = `affected[${String(i)}]`;
    if (!isObj(a) || !isObj(a.package) || typeof a.package.ecosystem !== 'string' || typeof a.package.name !== 'string') {
      throw bad(file, `${at}.package needs ecosystem and name`);
    }
    const versions = stringList(file, a.versions, `${at}.versions`);
    const severity = severities(file, a.severity, `${at}.severity`);
    return {
      package: { ecosystem: a.package.ecosystem, name: a.package.name },
      ranges: ranges(file, a.ranges, at),
      versions,
      ...(severity.length > 0 ? { severity } : {}),
    };
  });
  const dbs = isObj(doc.database_specific) ? doc.database_specific.severity : undefined;
  return {
    id: doc.id,
    modified: doc.modified,
    aliases: stringList(file, doc.aliases, 'aliases'),
    summary: typeof doc.summary === 'string' ? doc.summary : undefined,
    severity: severities(file, doc.severity, 'severity'),
    affected,
    databaseSeverity: typeof dbs === 'string' ? dbs : undefined,
    withdrawn: typeof doc.withdrawn === 'string' ? doc.withdrawn : undefined,
    file,
  };
}

/** The part of an ecosystem name before `:` (`Debian:12` is Debian's), as osv.dev names its export folders. */
function baseEcosystem(ecosystem: string): string {
  const colon = ecosystem.indexOf(':');
  return colon === -1 ? ecosystem : ecosystem.slice(0, colon);
}

/** Loads `<dir>/<Ecosystem>/*.json` (every ecosystem folder, or only those named). */
export function loadOsvDatabase(dir: string, options: { ecosystems?: string[] } = {}): OsvDatabase {
  let folders: string[];
  try {
    folders = readdirSync(dir).filter((name) => statSync(join(dir, name)).isDirectory());
  } catch (err) {
    throw new VouchError('OSV_DATABASE_UNAVAILABLE', `cannot read the OSV database ${dir}: ${errorMessage(err)}`, { cause: err, details: { dir } });
  }
  if (options.ecosystems !== undefined) folders = folders.filter((f) => options.ecosystems!.includes(f));
  folders.sort();
  const db: OsvDatabase = { dir, records: 0, withdrawn: 0, ecosystems: folders, newestModified: undefined, index: new Map() };
  let newest = -Infinity;
  for (const folder of folders) {
    const files = readdirSync(join(dir, folder)).filter((f) => f.endsWith('.json')).sort();
    for (const name of files) {
      const file = join(dir, folder, name);
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new VouchError('OSV_RECORD_INVALID', `${file}: not a valid OSV record: ${errorMessage(err)}`, { cause: err, details: { file } });
      }
      const record = parseOsvRecord(file, doc);
      db.records++;
      const modified = Date.parse(record.modified);
      if (modified > newest) {
        newest = modified;
        db.newestModified = record.modified;
      }
      if (record.withdrawn !== undefined) {
        db.withdrawn++;
        continue;
      }
      for (const a of record.affected) {
        const eco = baseEcosystem(a.package.ecosystem);
        let byName = db.index.get(eco);
        if (byName === undefined) db.index.set(eco, (byName = new Map<string, OsvRecord[]>()));
        const list = byName.get(a.package.name);
        if (list === undefined) byName.set(a.package.name, [record]);
        else if (!list.includes(record)) list.push(record);
      }
    }
  }
  return db;
}

/** Age of the database in days at `now`: how far behind the newest advisory it knows. */
export function databaseAgeDays(db: OsvDatabase, now: Date): number | undefined {
  if (db.newestModified === undefined) return undefined;
  return Math.max(0, (now.getTime() - Date.parse(db.newestModified)) / 86_400_000);
}
