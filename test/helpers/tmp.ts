import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary directory, removed after the current mocha suite (call inside describe). */
export function tempDirPerSuite(prefix = 'vouch-test-'): () => string {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => dir;
}

export function tempDir(prefix = 'vouch-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
