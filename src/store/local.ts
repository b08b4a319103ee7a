import { createHash } from 'node:crypto';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SerializedBundle } from '@sigstore/bundle';
import { VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import { createFileDurable } from '../common/durable.ts';
import { checkRecord, checkSha256Hex, predicateSlug, statementOf } from './record.ts';
import type { AttestationRecord, AttestationStore, StoreLocation } from './types.ts';

// Local directory store (the default). Layout, one directory per subject digest:
//   <dir>/<sha256 hex>/<predicate-slug>-<run uid>.sigstore.json   the Sigstore bundle v0.3, exactly as signed
//                                                                  (`vouch verify-bundle FILE` reads it as is)
//   <dir>/<sha256 hex>/<predicate-slug>-<run uid>.<h>.meta.json   what the bundle does not say: subject name, run uid,
//                                                                  predicateType, log entry, storedAt
// where <h> is 16 hex of the sha256 of the bundle file, so a meta file belongs to exactly one bundle. The bundle file
// is the commit point: it is created last, atomically, and never replaced (first writer wins, so put is idempotent).
// A meta file without its bundle (a crash in between, or a racing put that lost) is never read; a retry that signed
// again writes its own meta next to its own bundle, so the log entry listed is always the bundle's.

const BUNDLE_SUFFIX = '.sigstore.json';
const META_SUFFIX = '.meta.json';

interface MetaFile {
  subject: { name: string; sha256: string };
  predicateType: string;
  runUid: string;
  logEntry?: AttestationRecord['logEntry'];
  run?: AttestationRecord['run'];
  storedAt: string;
}

export class LocalStore implements AttestationStore {
  readonly kind = 'local' as const;
  readonly dir: string;
  private readonly log = logger('store');

  constructor(dir: string) {
    if (typeof dir !== 'string' || dir === '') throw new VouchError('STORE_INPUT_INVALID', 'the local store needs a directory');
    this.dir = resolve(dir);
  }

  /** The bundle path a record is (or would be) stored at. */
  pathOf(subjectSha256: string, predicateType: string, runUid: string): string {
    return join(this.dir, checkSha256Hex(subjectSha256), `${predicateSlug(predicateType)}-${runUid}${BUNDLE_SUFFIX}`);
  }

  async put(record: AttestationRecord): Promise<StoreLocation> {
    checkRecord(record);
    const path = this.pathOf(record.subject.sha256, record.predicateType, record.runUid);
    const bundleBytes = `${JSON.stringify(record.bundle)}\n`;
    const metaPath = metaPathOf(path, bundleBytes);
    try {
      if (await exists(path)) return { kind: 'local', ref: path };
      const meta: MetaFile = {
        subject: { name: record.subject.name, sha256: record.subject.sha256 },
        predicateType: record.predicateType,
        runUid: record.runUid,
        ...(record.logEntry ? { logEntry: record.logEntry } : {}),
        ...(record.run ? { run: record.run } : {}),
        storedAt: new Date().toISOString(),
      };
      // the meta of a crashed earlier attempt with this very bundle may be there already: it describes the same record
      await createFileDurable(metaPath, `${JSON.stringify(meta, null, 2)}\n`);
      const created = await createFileDurable(path, bundleBytes);
      if (!created && metaPathOf(path, await readFile(path, 'utf8')) !== metaPath) await unlink(metaPath).catch(() => undefined);
      this.log.debug({ path, created }, created ? 'attestation stored' : 'attestation was already stored');
    } catch (err) {
      throw ioError(err, `cannot store the attestation under ${this.dir}`);
    }
    return { kind: 'local', ref: path };
  }

  async list(subjectSha256: string): Promise<AttestationRecord[]> {
    const hex = checkSha256Hex(subjectSha256);
    const dir = join(this.dir, hex);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw ioError(err, `cannot read the local store directory ${dir}`);
    }
    const found: { record: AttestationRecord; storedAt: string }[] = [];
    for (const name of names.filter((n) => n.endsWith(BUNDLE_SUFFIX) && !n.startsWith('.'))) {
      const path = join(dir, name);
      let bundle: SerializedBundle;
      let meta: MetaFile;
      try {
        const text = await readFile(path, 'utf8');
        bundle = JSON.parse(text) as SerializedBundle;
        meta = JSON.parse(await readFile(metaPathOf(path, text), 'utf8')) as MetaFile;
      } catch (err) {
        if (err instanceof SyntaxError) throw new VouchError('STORE_CORRUPT', `${path} (or its ${META_SUFFIX}) is not valid JSON: the store was damaged`, { cause: err });
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new VouchError('STORE_CORRUPT', `${path} has no ${META_SUFFIX} for its content: the bundle was changed or its meta file removed`, { cause: err });
        throw ioError(err, `cannot read ${path}`);
      }
      const facts = statementOf(bundle, path);
      if (meta.subject?.sha256 !== hex || !facts.subjects.some((s) => s.sha256 === hex) || facts.predicateType !== meta.predicateType) {
        throw new VouchError('STORE_CORRUPT', `${path} does not hold an attestation for sha256:${hex} with predicateType ${JSON.stringify(meta.predicateType)}: the store was tampered with or damaged`);
      }
      const record: AttestationRecord = { subject: meta.subject, predicateType: meta.predicateType, runUid: meta.runUid, bundle };
      if (meta.logEntry) record.logEntry = meta.logEntry;
      if (meta.run) record.run = meta.run;
      found.push({ record, storedAt: meta.storedAt });
    }
    found.sort((a, b) => (a.storedAt < b.storedAt ? -1 : a.storedAt > b.storedAt ? 1 : 0));
    return found.map((f) => f.record);
  }
}

function metaPathOf(bundlePath: string, bundleText: string): string {
  const h = createHash('sha256').update(bundleText).digest('hex').slice(0, 16);
  return `${bundlePath.slice(0, -BUNDLE_SUFFIX.length)}.${h}${META_SUFFIX}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/** The store's I/O errors are retryable (STORE_UNAVAILABLE), unless already ours. */
function ioError(err: unknown, what: string): VouchError {
  if (err instanceof VouchError) return err;
  const e = err as NodeJS.ErrnoException;
  return new VouchError('STORE_UNAVAILABLE', `${what}: ${e.code ?? ''} ${e.message}`.trim(), { cause: err });
}
