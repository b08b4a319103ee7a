import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { VouchError } from '../common/errors.ts';

// Durable file creation for the local store. A private helper (src/common/ has none yet; src/tlog/storage.ts has one
// but store may not import tlog): temp file, fsync, link to the final name, fsync the directory. link() instead of
// rename() because link refuses to replace an existing file, which makes "first writer wins" atomic: two racing puts
// of the same record cannot overwrite each other, and a reader never sees a partial file.

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** mkdir -p, fsyncing each parent whose directory entry was created, so the new path survives a crash. */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  // fsync from the deepest created directory's parent upwards to the parent of the first created one
  let d = dir;
  for (;;) {
    const parent = dirname(d);
    await fsyncDir(parent);
    if (d === first || parent === d) break;
    d = parent;
  }
}

/**
 * Creates `path` with `data` durably and atomically unless it exists. Returns true when this call created it, false
 * when the file was already there (its content is left alone).
 */
export async function createFileDurable(path: string, data: Uint8Array | string): Promise<boolean> {
  const dir = dirname(path);
  await mkdirDurable(dir);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  let created = true;
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    created = false;
  }
  await unlink(tmp);
  await fsyncDir(dir);
  return created;
}

export function ioError(err: unknown, what: string): VouchError {
  if (err instanceof VouchError) return err;
  const e = err as NodeJS.ErrnoException;
  return new VouchError('STORE_UNAVAILABLE', `${what}: ${e.code ?? ''} ${e.message}`.trim(), { cause: err });
}
