import { randomBytes } from 'node:crypto';
import { constants, type PathLike } from 'node:fs';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

// Durable files: what is acknowledged after these return survives kill -9 and power loss. Data is fsynced before it
// gets its final name, and the directory is fsynced after, so the name itself is durable too. Used by the journal,
// the transparency log's identity files and the local attestation store.

/**
 * fsync a directory, so that a file created, linked or renamed in it is durable. Asynchronous: a directory fsync
 * waits for the disk, and a synchronous one stalled the whole event loop (HTTP ingest, the journal's group commit)
 * for that long, once per stored file.
 */
export async function fsyncDir(dir: PathLike): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** mkdir -p, fsyncing the parent of every directory it created, so the new path survives a crash. */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
}

/** Writes `dir/name` durably and atomically, replacing what was there: temp file, fsync, rename, fsync the directory. */
export async function writeFileDurable(dir: string, name: string, data: string | Uint8Array, mode: number): Promise<void> {
  const tmp = await writeTemp(dir, name, data, mode);
  await rename(tmp, join(dir, name));
  await fsyncDir(dir);
}

/**
 * Creates `path` durably and atomically unless it exists; returns false (leaving the file alone) when it does.
 * link() refuses to replace a file, so "first writer wins" holds even between racing writers, and a reader never sees
 * a partial file.
 */
export async function createFileDurable(path: string, data: string | Uint8Array, mode = 0o644): Promise<boolean> {
  const dir = dirname(path);
  await mkdirDurable(dir);
  const tmp = await writeTemp(dir, basename(path), data, mode);
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

async function writeTemp(dir: string, name: string, data: string | Uint8Array, mode: number): Promise<string> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  return tmp;
}
