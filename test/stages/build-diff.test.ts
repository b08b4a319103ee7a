// The file-level account of the build stage (src/stages/build/tar.ts, compare.ts) against archives made by GNU tar
// and gzip: long names (GNU and pax), modes, owners, mtimes, a gzip header that alone differs, non-archives.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describeDifference } from '../../src/stages/build/compare.ts';
import { diffTars, readTar } from '../../src/stages/build/tar.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

describe('build stage: what differs between two outputs', () => {
  const tmp = tempDirPerSuite('vouch-build-diff-');
  const longName = `${'deep/'.repeat(25)}file-with-a-long-name.txt`;

  function tarOf(format: 'gnu' | 'pax' | 'ustar', files: Record<string, string>, o: { mtime?: string; mode?: string; owner?: string } = {}): Buffer {
    const dir = join(tmp(), `t-${String(Math.random()).slice(2)}`);
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), content);
    }
    const out = `${dir}.tar`;
    execFileSync('tar', ['-cf', out, `--format=${format}`, '--sort=name', `--mtime=${o.mtime ?? '@0'}`, `--mode=${o.mode ?? '0644'}`, `--owner=${o.owner ?? '0'}`, '--group=0', '--numeric-owner', '-C', dir, ...Object.keys(files)]);
    return readFileSync(out);
  }

  it('reads GNU and pax long names and reports the member whose content differs', () => {
    for (const format of ['gnu', 'pax'] as const) {
      const a = tarOf(format, { [longName]: 'one\n', 'same.txt': 'x' });
      const b = tarOf(format, { [longName]: 'two\n', 'same.txt': 'x' });
      expect(readTar(a)!.map((m) => m.name), format).to.deep.equal([longName, 'same.txt']);
      expect(describeDifference(a, b).differences, format).to.deep.equal([`${longName}: content (4 vs 4 bytes)`]);
    }
  });

  it('names mode, owner and mtime differences, and members only one archive has', () => {
    const a = tarOf('ustar', { 'a.txt': 'x', 'gone.txt': 'y' }, { mode: '0644', owner: '0', mtime: '@0' });
    const b = tarOf('ustar', { 'a.txt': 'x', 'new.txt': 'z' }, { mode: '0664', owner: '1000', mtime: '@86400' });
    expect(diffTars(readTar(a)!, readTar(b)!)).to.deep.equal([
      { name: 'a.txt', what: ['mode 644 vs 664', 'owner 0:0 vs 1000:0', 'mtime 0 vs 86400'] },
      { name: 'gone.txt', what: ['only in the first build'] },
      { name: 'new.txt', what: ['only in the second build'] },
    ]);
  });

  it('looks inside gzip; a gzip header that alone differs is said to be that', () => {
    const tar = tarOf('ustar', { 'a.txt': 'x' });
    const a = gzipSync(tar);
    const b = Buffer.from(a);
    b.writeUInt32LE(1_700_000_000, 4); // the gzip header's MTIME field
    expect(describeDifference(a, b).differences).to.deep.equal(['the compressed bytes differ but the content is the same (gzip header: mtime or file name)']);
    expect(describeDifference(gzipSync(tar), gzipSync(tarOf('ustar', { 'a.txt': 'y' }))).differences).to.deep.equal(['a.txt: content (1 vs 1 bytes)']);
  });

  it('non-archives: sizes and the first differing byte; a corrupt tar is not read as one', () => {
    expect(describeDifference(Buffer.from('hello world'), Buffer.from('hello there!')).differences).to.deep.equal(['11 vs 12 bytes, first difference at byte 6']);
    const broken = tarOf('ustar', { 'a.txt': 'x' });
    broken[150] = 0x39; // inside the checksum field
    expect(readTar(broken)).to.equal(undefined);
    expect(readTar(Buffer.alloc(0))).to.equal(undefined);
  });
});
