// git for the stages: one way to run it (no user/system config, no prompts), the change's diff and the lines it
// added, and the policy file of the base revision. Every stage that looks at a change uses these.

import { execFile } from 'node:child_process';
import { sha256Hex } from '../common/digest.ts';
import { VouchError } from '../common/errors.ts';
import { parsePolicy, defaultPolicy, POLICY_PATH, type Policy } from '../policy/index.ts';

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface GitOptions {
  cwd: string;
  env?: Record<string, string>;
  /** extra `-c key=value` settings */
  config?: Record<string, string>;
}

/** Runs git with only our settings (user and system config ignored, no terminal prompts). Never throws on exit code. */
export function runGit(args: readonly string[], o: GitOptions): Promise<GitResult> {
  const config = Object.entries({ 'safe.directory': '*', 'core.quotePath': 'false', 'protocol.file.allow': 'always', ...o.config }).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  return new Promise((resolvePromise, reject) => {
    execFile(
      'git',
      [...config, ...args],
      {
        cwd: o.cwd,
        maxBuffer: 256 * 1024 * 1024,
        env: {
          PATH: process.env['PATH'] ?? '/usr/bin:/bin',
          HOME: process.env['HOME'] ?? '/nonexistent',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_TERMINAL_PROMPT: '0',
          GIT_ASKPASS: 'true',
          // refs/replace/* in a workspace untrusted code could write would swap any object we read (the base policy)
          GIT_NO_REPLACE_OBJECTS: '1',
          LC_ALL: 'C',
          ...o.env,
        },
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new VouchError('STAGE_TOOL_FAILED', `cannot run git: ${err.message}`, { cause: err }));
          return;
        }
        resolvePromise({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
      },
    );
  });
}

/** Runs git and throws STAGE_TOOL_FAILED (with git's own message) when it fails. */
export async function git(args: readonly string[], o: GitOptions): Promise<string> {
  const r = await runGit(args, o);
  if (r.code !== 0) throw new VouchError('STAGE_TOOL_FAILED', `git ${args[0] ?? ''} failed: ${firstLines(r.stderr)}`, { details: { args: [...args] } });
  return r.stdout;
}

export function firstLines(text: string, n = 3): string {
  return text.trim().split('\n').filter((l) => l.trim() !== '').slice(0, n).join(' / ');
}

/** The full commit id of `rev` in `repo`; STAGE_REVISION_NOT_FOUND when there is no such commit. */
export async function resolveCommit(repo: string, rev: string): Promise<string> {
  if (rev.startsWith('-')) throw new VouchError('STAGE_USAGE', `revision "${rev}" must not start with "-"`);
  const r = await runGit(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`], { cwd: repo });
  if (r.code !== 0 && /not a git repository/i.test(r.stderr)) throw new VouchError('STAGE_REPO_NOT_FOUND', `${repo} is not a git repository (run the clone stage first)`);
  if (r.code !== 0) throw new VouchError('STAGE_REVISION_NOT_FOUND', `revision "${rev}" is not a commit in ${repo}`, { details: { revision: rev } });
  return r.stdout.trim();
}

export interface ChangedFile {
  /** A added, M modified, D deleted, R renamed, C copied, T type changed */
  status: string;
  path: string;
  /** for renames and copies */
  from?: string;
}

/** Files changed between two commits (renames detected). */
export async function changedFiles(repo: string, base: string, head: string): Promise<ChangedFile[]> {
  const out = await git(['diff', '--name-status', '-z', '--find-renames', base, head, '--'], { cwd: repo });
  const parts = out.split('\0').filter((p) => p !== '');
  const files: ChangedFile[] = [];
  for (let i = 0; i < parts.length; ) {
    const status = parts[i++] ?? '';
    const letter = status.charAt(0);
    if (letter === 'R' || letter === 'C') {
      const from = parts[i++] ?? '';
      const path = parts[i++] ?? '';
      files.push({ status: letter, path, from });
    } else {
      files.push({ status: letter, path: parts[i++] ?? '' });
    }
  }
  return files;
}

/** The unified diff base..head as git prints it (binary files summarized). */
export function diffText(repo: string, base: string, head: string): Promise<string> {
  return git(['diff', '--no-color', '--no-ext-diff', '--find-renames', base, head, '--'], { cwd: repo });
}

export interface AddedLines {
  path: string;
  /** line number in the head version -> the added line's text */
  lines: Map<number, string>;
}

/** The lines the change added, per file, with their line numbers in the head commit. */
export async function addedLines(repo: string, base: string, head: string): Promise<AddedLines[]> {
  const out = await git(['diff', '--no-color', '--no-ext-diff', '--find-renames', '-U0', base, head, '--'], { cwd: repo });
  return parseAddedLines(out);
}

/** Parses a `-U0` unified diff into added lines per file. */
export function parseAddedLines(diff: string): AddedLines[] {
  const files: AddedLines[] = [];
  let current: AddedLines | undefined;
  let next = 0;
  let inHunk = false;
  for (const line of diff.split('\n')) {
    if (line.startsWith('diff --git ')) {
      current = undefined;
      inHunk = false;
    } else if (!inHunk && line.startsWith('+++ ')) {
      const target = line.slice(4);
      if (target === '/dev/null') current = undefined;
      else {
        current = { path: unquote(target).replace(/^b\//, ''), lines: new Map() };
        files.push(current);
      }
    } else if (line.startsWith('@@ ')) {
      const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(line);
      next = m ? Number(m[1]) : 0;
      inHunk = true;
    } else if (inHunk && current && line.startsWith('+')) {
      current.lines.set(next++, line.slice(1));
    } else if (inHunk && line.startsWith(' ')) {
      next++;
    }
  }
  return files.filter((f) => f.lines.size > 0);
}

/** git's C-style quoting of unusual paths ("a\tb"); octal escapes are UTF-8 bytes. */
function unquote(s: string): string {
  if (!s.startsWith('"') || !s.endsWith('"')) return s;
  const bytes: number[] = [];
  const body = s.slice(1, -1);
  const simple: Record<string, number> = { n: 10, t: 9, '"': 34, '\\': 92, a: 7, b: 8, f: 12, r: 13, v: 11 };
  for (let i = 0; i < body.length; i++) {
    const c = body[i] ?? '';
    if (c !== '\\') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = body[i + 1] ?? '';
    if (/[0-7]/.test(n)) {
      bytes.push(parseInt(body.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(simple[n] ?? n.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export interface LoadedPolicy {
  policy: Policy;
  /** where it came from: "<commit>:.vouch/policy.yaml", or "default" */
  source: string;
  /** sha256 hex of the file's bytes; with no file, of the defaults this version of vouch documents (as JSON) */
  sha256: string;
}

/**
 * The policy of the BASE revision (`git show <base>:.vouch/policy.yaml`), never the working tree: the change under
 * review must not be able to loosen the rules that judge it. No file there: the documented default.
 */
export async function policyAtBase(repo: string, base: string | undefined): Promise<LoadedPolicy> {
  const byDefault = (source: string): LoadedPolicy => {
    const policy = defaultPolicy();
    return { policy, source, sha256: sha256Hex(JSON.stringify(policy)) };
  };
  if (base === undefined) return byDefault('default (no base revision)');
  const commit = await resolveCommit(repo, base);
  const spec = `${commit}:${POLICY_PATH}`;
  const r = await runGit(['cat-file', '-e', spec], { cwd: repo });
  if (r.code !== 0) return byDefault(`default (no ${POLICY_PATH} at ${commit})`);
  const text = await git(['show', spec], { cwd: repo });
  return { policy: parsePolicy(text, spec), source: spec, sha256: sha256Hex(text) };
}
