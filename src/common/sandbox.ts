// The bubblewrap mechanism under every sandbox vouch starts: the step sandbox of `vouch run` (runner/), the two builds
// of the reproducible build and the agent's sandbox (stages/). It lives in common/ because that is the one room both
// runner/ and stages/ may import (DESIGN.md §2). Only the mechanism is here — how to say "private /tmp, no network,
// cover these paths" to bwrap, and whether the kernel lets us — while what each sandbox may see, write or reach is
// decided by its caller.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';

/** The PATH a sandboxed process gets when it does not set one (what a typical container image declares). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Where credentials usually live in a home directory. */
export const CREDENTIAL_PATHS = ['.ssh', '.gnupg', '.aws', '.azure', '.config/gcloud', '.docker', '.kube', '.netrc', '.npmrc', '.git-credentials', '.pypirc', '.vault-token'];

/** Secrets of the machine itself, readable by root (which vouch may be running as). */
export const SYSTEM_SECRET_PATHS = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/sudoers', '/etc/sudoers.d', '/etc/ssl/private'];

/** The host directories a program needs to run (binaries, libraries, configuration), for a sandbox that sees no more. */
export const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc'];

/** The credential paths of a home directory (plus `alsoInHome`) that exist. */
export function homeCredentialPaths(home: string, alsoInHome: readonly string[] = []): string[] {
  return [...CREDENTIAL_PATHS, ...alsoInHome].map((p) => join(home, p)).filter((p) => existsSync(p));
}

/** The system secrets and sshd host keys that exist. */
export function systemSecretPaths(): string[] {
  let hostKeys: string[] = [];
  try {
    hostKeys = readdirSync('/etc/ssh').filter((f) => /^ssh_host_.*_key$/.test(f)).map((f) => join('/etc/ssh', f));
  } catch {
    // no sshd here
  }
  return [...SYSTEM_SECRET_PATHS, ...hostKeys].filter((p) => existsSync(p));
}

/**
 * /proc inside: a private procfs; where the kernel refuses a new procfs (nested under a step sandbox, whose /proc is
 * partly covered) an empty one, or the enclosing sandbox's procfs bound (its process list; other processes' memory and
 * environment stay closed, as ptrace checks refuse a process of another user namespace; writable so that a bwrap
 * nested once more can write its uid map, /proc/sys stays read-only and locked).
 */
export type ProcMode = 'private' | 'none' | 'bind';

export interface IsolationOptions {
  /** share the host's network namespace (and its resolver under /run) */
  network: boolean;
  /** keep root's capabilities inside the user namespace (buildah's vfs storage and chroot need them) */
  keepCaps?: boolean;
  hostname?: string;
  /** default 'private' */
  proc?: ProcMode;
  /**
   * The host paths visible (read-only) on an otherwise empty root; default the whole host. Home directories, /var,
   * /srv, mounted secrets... of the host then do not exist inside unless listed.
   */
  view?: readonly string[];
}

/**
 * Every namespace unshared, a read-only view of the host with a private /tmp, /dev, /proc and /run, and an empty
 * environment. Paths the caller binds come after these, so they land on top of the private /tmp.
 */
export function isolationArgs(o: IsolationOptions): string[] {
  return [
    '--unshare-all',
    ...(o.network ? ['--share-net'] : []),
    // root inside the user namespace needs no capabilities to run a build step
    ...(o.keepCaps === true ? [] : ['--cap-drop', 'ALL']),
    ...(o.hostname === undefined ? [] : ['--hostname', o.hostname]),
    '--die-with-parent',
    '--new-session',
    '--clearenv',
    ...(o.view === undefined ? ['--ro-bind', '/', '/'] : viewArgs(o.view)),
    '--tmpfs', '/tmp',
    '--dev', '/dev',
    ...PROC_ARGS[o.proc ?? 'private'],
    // a read-only mount does not stop connect() on a unix socket: /run (docker.sock, dbus, containerd...) goes
    ...runtimeDirArgs(o.network),
  ];
}

const PROC_ARGS: Record<ProcMode, string[]> = { private: ['--proc', '/proc'], none: ['--tmpfs', '/proc'], bind: ['--bind', '/proc', '/proc'] };

/**
 * A second bwrap, started inside a sandbox made by isolationArgs that runs as a non-root uid, making its command root
 * of a nested user namespace with all capabilities there (buildah's vfs storage and chroot isolation need them).
 * Capabilities granted by a single bwrap would undo it: its root could unmount hidden paths and remount the host
 * read-write, mounts made in its own namespace not being locked. The outer sandbox's mounts reach the nested
 * namespace locked (read-only host, private /tmp, hidden paths stay), and outside it is still the outer sandbox's
 * capability-less uid. A new procfs is refused there, so the outer /proc is bound.
 */
export function nestedRootArgs(o: { network: boolean; writable: readonly string[] }): string[] {
  return [
    '--unshare-all',
    ...(o.network ? ['--share-net'] : []),
    ...userArgs({ uid: 0, gid: 0 }),
    '--cap-add', 'ALL',
    '--die-with-parent',
    // recursive: the outer sandbox's mounts come along, locked; its writable directories are made writable again
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    '--ro-bind', '/proc', '/proc',
    ...bindArgs(o.writable, 'rw'),
  ];
}

/** The uid the outer level of a nested-root sandbox runs as: any but 0, which the nested namespace may not map. */
export const NESTING_UID = 65532;

function runtimeDirArgs(network: boolean): string[] {
  const args = ['--tmpfs', '/run'];
  try {
    if (!lstatSync('/var/run').isSymbolicLink()) args.push('--tmpfs', '/var/run');
  } catch {
    // no /var/run
  }
  // name resolution of network processes may live there (systemd-resolved's stub resolv.conf)
  if (network && existsSync('/run/systemd/resolve')) args.push('--ro-bind', '/run/systemd/resolve', '/run/systemd/resolve');
  return args;
}

/** Each path that exists, read-only at the same place; a symlink (/bin -> usr/bin) is recreated as the same symlink. */
export function viewArgs(paths: readonly string[]): string[] {
  const args: string[] = [];
  for (const path of paths) {
    try {
      args.push(...(lstatSync(path).isSymbolicLink() ? ['--symlink', readlinkSync(path), path] : ['--ro-bind', path, path]));
    } catch {
      // not on this host
    }
  }
  return args;
}

/** Covers each path that exists: a directory by an empty tmpfs, a file by /dev/null. */
export function hideArgs(paths: readonly string[]): string[] {
  const args: string[] = [];
  for (const path of paths) {
    let dir: boolean;
    try {
      dir = statSync(path).isDirectory();
    } catch {
      continue;
    }
    args.push(...(dir ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path]));
  }
  return args;
}

/** Host paths bound at the same path inside, read-write or read-only. */
export function bindArgs(paths: readonly string[], mode: 'rw' | 'ro'): string[] {
  return paths.flatMap((p) => [mode === 'rw' ? '--bind' : '--ro-bind', p, p]);
}

/** The user the process is inside the sandbox's user namespace (still the invoking user outside). */
export function userArgs(runAs: { uid: number; gid: number } | undefined): string[] {
  return runAs ? ['--uid', String(runAs.uid), '--gid', String(runAs.gid)] : [];
}

/** The tail of a bwrap command line: the complete environment, the working directory and the command. */
export function commandArgs(env: Record<string, string>, cwd: string, argv: readonly string[]): string[] {
  return [...Object.entries(env).flatMap(([name, value]) => ['--setenv', name, value]), '--chdir', cwd, '--', ...argv];
}

export type ProbeResult = { ok: true } | { ok: false; reason: 'missing' | 'spawn' | 'refused'; why: string };

/**
 * Whether bwrap starts /bin/true with these arguments here. Nested inside another sandbox the kernel refuses some
 * namespaces (a user namespace mapping uid 0 from a capability-less uid 0, Linux >= 5.12; a new procfs over a
 * partly covered /proc): the answer says why, in bwrap's own words.
 */
export function probeBwrap(bwrap: string, args: readonly string[]): ProbeResult {
  const r = spawnSync(bwrap, [...args, '--', '/bin/true'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    return missing ? { ok: false, reason: 'missing', why: `${bwrap} not found` } : { ok: false, reason: 'spawn', why: r.error.message };
  }
  if (r.status === 0) return { ok: true };
  return { ok: false, reason: 'refused', why: r.stderr.trim().split('\n')[0] || `exit status ${String(r.status)}` };
}

/** The first of `modes` bwrap can set up here, or why none works. */
export function probeProcMode(bwrap: string, o: Omit<IsolationOptions, 'proc'>, modes: readonly ProcMode[]): { ok: true; proc: ProcMode } | Exclude<ProbeResult, { ok: true }> {
  let failed: Exclude<ProbeResult, { ok: true }> | undefined;
  for (const proc of modes) {
    const r = probeBwrap(bwrap, isolationArgs({ ...o, proc }));
    if (r.ok) return { ok: true, proc };
    failed = r;
    // bwrap itself cannot start: trying without /proc will not help
    if (r.reason !== 'refused') break;
  }
  return failed ?? { ok: false, reason: 'refused', why: 'no /proc mode works' };
}

/** Kills a sandbox started `detached`: its whole process group (bwrap's pid namespace dies with its init). */
export function killProcessGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** A shell's exit status: the code, or 128 + the number of the signal that ended the process. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
}
