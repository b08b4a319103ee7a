import { expect } from 'chai';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bindArgs, commandArgs, exitStatus, hideArgs, homeCredentialPaths, isolationArgs, probeBwrap, probeProcMode, viewArgs } from '../../src/common/sandbox.ts';

describe('common/sandbox: the bubblewrap mechanism', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'vouch-common-sandbox-'));
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  /** A stand-in bwrap that fails, as the kernel's refusal does, when its arguments contain `refuse`. */
  function fakeBwrap(refuse: string): string {
    const path = join(root, `bwrap-${refuse.replace(/\W/g, '')}`);
    writeFileSync(path, `#!/bin/sh\nfor a in "$@"; do [ "$a" = "${refuse}" ] && { echo "bwrap: Can't mount proc on /newroot/proc: Operation not permitted" >&2; exit 1; }; done\nexit 0\n`);
    chmodSync(path, 0o755);
    return path;
  }

  it('covers directories with a tmpfs and files with /dev/null, and skips paths that do not exist', () => {
    const dir = join(root, 'creds');
    const file = join(root, 'key');
    mkdirSync(dir);
    writeFileSync(file, 'secret');
    expect(hideArgs([dir, file, join(root, 'absent')])).to.deep.equal(['--tmpfs', dir, '--ro-bind', '/dev/null', file]);
  });

  it('a narrow view binds only the listed paths (symlinks as symlinks) instead of the whole host', () => {
    const dir = join(root, 'usr');
    const link = join(root, 'bin');
    mkdirSync(dir);
    symlinkSync('usr', link);
    expect(viewArgs([dir, link, join(root, 'absent')])).to.deep.equal(['--ro-bind', dir, dir, '--symlink', 'usr', link]);
    const narrow = isolationArgs({ network: false, view: [dir] });
    expect(narrow.join(' ')).to.not.include('--ro-bind / /');
    expect(narrow.join(' ')).to.include(`--ro-bind ${dir} ${dir}`);
    expect(isolationArgs({ network: false }).join(' ')).to.include('--ro-bind / /');
  });

  it('builds binds, the environment and the command in bwrap order', () => {
    expect(bindArgs(['/a', '/b'], 'ro')).to.deep.equal(['--ro-bind', '/a', '/a', '--ro-bind', '/b', '/b']);
    expect(bindArgs(['/w'], 'rw')).to.deep.equal(['--bind', '/w', '/w']);
    expect(commandArgs({ A: '1' }, '/w', ['sh', '-c', 'x'])).to.deep.equal(['--setenv', 'A', '1', '--chdir', '/w', '--', 'sh', '-c', 'x']);
  });

  it('drops capabilities and the network unless asked, and masks /proc when told to', () => {
    const plain = isolationArgs({ network: false });
    expect(plain).to.include.members(['--unshare-all', '--clearenv', '--cap-drop', '--proc']);
    expect(plain).not.to.include('--share-net');
    const build = isolationArgs({ network: true, keepCaps: true, hostname: 'h', proc: 'none' });
    expect(build).to.include.members(['--share-net', '--hostname', 'h']);
    expect(build).not.to.include('--cap-drop');
    expect(build).not.to.include('--proc');
    expect(build.join(' ')).to.include('--tmpfs /proc');
  });

  it('finds only the credential paths of a home directory that exist, with caller extras', () => {
    const home = join(root, 'home');
    mkdirSync(join(home, '.ssh'), { recursive: true });
    writeFileSync(join(home, '.claude.json'), '{}');
    expect(homeCredentialPaths(home, ['.claude.json'])).to.deep.equal([join(home, '.ssh'), join(home, '.claude.json')]);
  });

  it('says whether bwrap is missing or refused, in its own words', () => {
    expect(probeBwrap(join(root, 'no-such-bwrap'), [])).to.deep.include({ ok: false, reason: 'missing' });
    const refused = probeBwrap(fakeBwrap('--proc'), isolationArgs({ network: false }));
    expect(refused).to.deep.include({ ok: false, reason: 'refused' });
    expect(refused.ok ? '' : refused.why).to.include("Can't mount proc");
  });

  it('falls back to no /proc where a new procfs is refused (nested), and reports when nothing works', () => {
    expect(probeProcMode(fakeBwrap('--proc'), { network: false }, ['private', 'none'])).to.deep.equal({ ok: true, proc: 'none' });
    expect(probeProcMode(fakeBwrap('--unshare-all'), { network: false }, ['private', 'none'])).to.deep.include({ ok: false, reason: 'refused' });
    expect(probeProcMode(join(root, 'no-such-bwrap'), { network: false }, ['private', 'none'])).to.deep.include({ ok: false, reason: 'missing' });
  });

  it("gives a shell's exit status for a signal", () => {
    expect(exitStatus(3, null)).to.equal(3);
    expect(exitStatus(null, 'SIGKILL')).to.equal(137);
    expect(exitStatus(null, 'SIGTERM')).to.equal(143);
    expect(exitStatus(null, 'SIGHUP')).to.equal(129);
  });
});
