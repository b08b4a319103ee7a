// Small real git repositories for the stage tests: commits, SSH-signed commits (ssh-keygen ed25519 keys), agent
// trailers, policy files. git runs with no user or system config so the machine's settings cannot leak in.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VouchError } from '../../src/common/errors.ts';
import { configureLogging } from '../../src/common/log.ts';
import { findStage, parseResultFlags, runStage } from '../../src/stages/index.ts';
import { captureLogs } from '../helpers/log.ts';

export const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test Author',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'Test Author',
  GIT_COMMITTER_EMAIL: 'author@example.com',
};

export function git(repo: string, args: string[], env: Record<string, string> = {}): string {
  return execFileSync('git', args, { cwd: repo, env: { ...GIT_ENV, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface GpgKey {
  /** GNUPGHOME holding the secret key (stop its agent with stopGpgAgent) */
  home: string;
  fingerprint: string;
  /** ASCII-armored public key */
  armored: string;
}

/** A passphrase-less ed25519 OpenPGP signing key in its own GNUPGHOME. */
export function gpgKey(dir: string, uid: string): GpgKey {
  const home = join(dir, `gnupg-${String(Math.random()).slice(2, 8)}`);
  mkdirSync(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', uid, 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
  const colons = execFileSync('gpg', ['--batch', '--with-colons', '--list-keys', uid], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const fingerprint = colons.split('\n').find((l) => l.startsWith('fpr:'))?.split(':')[9] ?? '';
  const armored = execFileSync('gpg', ['--batch', '--armor', '--export', fingerprint], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return { home, fingerprint, armored };
}

export function stopGpgAgent(key: GpgKey): void {
  execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env: { ...process.env, GNUPGHOME: key.home }, stdio: 'ignore' });
}

export function requireTool(name: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${name} is needed by these tests (Debian: .ci/run installs it)`);
  }
}

export interface SshKey {
  /** private key file (git's user.signingkey may name the .pub beside it) */
  path: string;
  pub: string;
  /** "ssh-ed25519 AAAA..." */
  publicLine: string;
}

export function sshKey(dir: string, name: string): SshKey {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', path], { stdio: 'ignore' });
  const publicLine = readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  return { path, pub: `${path}.pub`, publicLine };
}

export function initRepo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  git(dir, ['init', '--quiet', '--initial-branch=main']);
  return dir;
}

export interface CommitOptions {
  signWith?: SshKey;
  gpgSignWith?: GpgKey;
  trailers?: Record<string, string>;
}

/** Writes files (path -> content) and commits them; returns the commit id. */
export function commit(repo: string, files: Record<string, string>, message: string, o: CommitOptions = {}): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), content);
    git(repo, ['add', '--', path]);
  }
  const trailers = Object.entries(o.trailers ?? {}).map(([k, v]) => `${k}: ${v}`);
  const full = trailers.length ? `${message}\n\n${trailers.join('\n')}\n` : message;
  if (o.gpgSignWith) {
    git(repo, ['-c', `user.signingkey=${o.gpgSignWith.fingerprint}`, 'commit', '--quiet', '--allow-empty', '-S', '-m', full], { GNUPGHOME: o.gpgSignWith.home });
  } else {
    const sign = o.signWith ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${o.signWith.pub}`] : [];
    git(repo, [...sign, 'commit', '--quiet', '--allow-empty', ...(o.signWith ? ['-S'] : ['--no-gpg-sign']), '-m', full]);
  }
  return git(repo, ['rev-parse', 'HEAD']).trim();
}

export function policyYaml(o: { requireSignedHead?: boolean; signers?: { principal: string; key: SshKey; role?: 'human' | 'agent' }[]; gpgSigners?: { principal: string; key: GpgKey; role?: 'human' | 'agent' }[]; extra?: string }): string {
  const lines = ['version: 1', 'clone:', `  require-signed-head: ${String(o.requireSignedHead ?? false)}`];
  if (o.signers?.length) {
    lines.push('  allowed-signers:');
    for (const s of o.signers) lines.push(`    - principal: ${s.principal}`, `      key: ${s.key.publicLine}`, `      role: ${s.role ?? 'human'}`);
  }
  if (o.gpgSigners?.length) {
    lines.push('  gpg-signers:');
    for (const s of o.gpgSigners) {
      lines.push(`    - principal: ${s.principal}`, `      role: ${s.role ?? 'human'}`, '      public-key: |');
      lines.push(...s.key.armored.trim().split('\n').map((l) => `        ${l}`));
    }
  }
  return lines.join('\n') + '\n' + (o.extra ?? '');
}

/** Every file under dir (recursively), for "nothing written" and "secret never printed" checks. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

export interface StageRun {
  code: number;
  stdout: string;
  /** the error line as the CLI prints it, then the log lines (JSON) */
  stderr: string;
}

/**
 * Runs `vouch task <stage> ARGS` in this process (same stage code, same exit-code mapping as src/cli/task.ts and
 * context.ts), to keep the suite fast on a loaded machine; the CLI itself is exercised by runVouch tests.
 */
export async function runTaskInProcess(stageName: string, args: readonly string[]): Promise<StageRun> {
  const stage = findStage(stageName);
  if (!stage) throw new Error(`no stage ${stageName}`);
  const params: Record<string, string> = {};
  const results: string[] = [];
  let source: string | undefined;
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i] ?? '';
    const value = args[i + 1] ?? '';
    if (!flag.startsWith('--')) throw new Error(`bad test args: ${flag}`);
    if (flag === '--source') source = value;
    else if (flag === '--result') results.push(value);
    else params[flag.slice(2)] = value;
  }
  const lines = captureLogs('info');
  try {
    const s = await runStage(stage, { params, source, resultPaths: parseResultFlags(results) });
    return { code: s.passed ? 0 : 1, stdout: `${stage.name}: ${s.passed ? 'passed' : 'FAILED'}${s.reasons.length ? ': ' + s.reasons.join('; ') : ''}\n`, stderr: lines.join('') };
  } catch (err) {
    if (!(err instanceof VouchError)) throw err;
    return { code: err.exitCode, stdout: '', stderr: `vouch: ${err.message} [${err.code}]\n${lines.join('')}` };
  } finally {
    configureLogging({ level: 'silent' });
  }
}
