// The agent's change as git objects, built beside the real index so the working tree and HEAD stay as they are until
// the stage publishes: a tree of everything the agent changed (the .vouch reports excluded), its patch, a commit with
// the agent-run trailers, and finally the branch moved to it and checked out.
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../common/digest.ts';
import { VouchError } from '../../common/errors.ts';
import { git, runGit } from '../git.ts';

export interface CapturedChange {
  tree: string;
  changed: boolean;
  /** `git diff --binary --full-index <base> <tree>`; empty without a change */
  patch: string;
  patchDigest: string;
  filesChanged: number;
}

/** Everything in the workspace but `exclude`, as a tree, compared with `base`. `indexFile` is a scratch path. */
export async function captureChange(repo: string, base: string, indexFile: string, exclude: string): Promise<CapturedChange> {
  const env = { GIT_INDEX_FILE: indexFile };
  await git(['read-tree', base], { cwd: repo, env });
  await git(['add', '--all', '--', '.', `:(exclude)${exclude}`], { cwd: repo, env });
  const tree = (await git(['write-tree'], { cwd: repo, env })).trim();
  const baseTree = (await git(['rev-parse', `${base}^{tree}`], { cwd: repo })).trim();
  if (tree === baseTree) return { tree, changed: false, patch: '', patchDigest: sha256Hex(''), filesChanged: 0 };
  const patch = await git(['diff', '--binary', '--no-color', '--no-ext-diff', '--full-index', base, tree, '--'], { cwd: repo });
  const names = await git(['diff', '--name-only', '-z', base, tree, '--'], { cwd: repo });
  return { tree, changed: true, patch, patchDigest: sha256Hex(patch), filesChanged: names.split('\0').filter((f) => f !== '').length };
}

/** Each gitignored file of the workspace (but `exclude`) with what changes when it is written: inode, mode, size, ctime. */
export type IgnoredSnapshot = Map<string, string>;

export async function snapshotIgnored(repo: string, exclude: string): Promise<IgnoredSnapshot> {
  const listed = await git(['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--', '.', `:(exclude)${exclude}`], { cwd: repo });
  const snap: IgnoredSnapshot = new Map();
  for (const path of listed.split('\0').filter((p) => p !== '')) {
    try {
      // ctime: set by the kernel on every write, chmod or rename, and unlike mtime not settable by the agent
      const st = await lstat(join(repo, path), { bigint: true });
      snap.set(path, `${String(st.ino)}:${String(st.mode)}:${String(st.size)}:${String(st.ctimeNs)}`);
    } catch {
      // gone between listing and lstat
    }
  }
  return snap;
}

export interface IgnoredChange {
  path: string;
  change: 'added' | 'modified' | 'deleted';
}

/**
 * What the agent did to gitignored files (node_modules/.bin/mocha replaced by `exit 0`, a new file under dist/): git
 * add leaves them out, so its commit, patch and brief would not show them while later stages of this workspace use them.
 */
export function ignoredChanges(before: IgnoredSnapshot, after: IgnoredSnapshot): IgnoredChange[] {
  const out: IgnoredChange[] = [];
  for (const [path, key] of after) {
    const was = before.get(path);
    if (was === undefined) out.push({ path, change: 'added' });
    else if (was !== key) out.push({ path, change: 'modified' });
  }
  for (const path of before.keys()) if (!after.has(path)) out.push({ path, change: 'deleted' });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface AgentCommitInput {
  repo: string;
  base: string;
  tree: string;
  agentName: string;
  agentVersion: string | undefined;
  model: string;
  promptText: string;
  promptVersion: string;
  runId: string;
  transcriptDigest: string;
  date: Date;
}

/** The commit object (no ref moves): subject from the prompt, the run in the body, the two trailers last. */
export async function commitAgentChange(c: AgentCommitInput): Promise<string> {
  const subject = `agent-run: ${(c.promptText.split('\n').find((l) => l.trim() !== '') ?? 'change').trim().slice(0, 60)}`;
  const date = c.date.toISOString();
  const env = {
    GIT_AUTHOR_NAME: `vouch agent-run (${c.agentName})`,
    GIT_AUTHOR_EMAIL: 'agent-run@vouch.invalid',
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_NAME: 'vouch agent-run',
    GIT_COMMITTER_EMAIL: 'agent-run@vouch.invalid',
    GIT_COMMITTER_DATE: date,
  };
  const body = `Agent: ${c.agentName}${c.agentVersion ? ` ${c.agentVersion}` : ''}\nModel: ${c.model || 'unspecified'}\nPrompt-Version: ${c.promptVersion}`;
  const trailers = `Agent-Run: ${c.runId}\nAgent-Transcript: sha256:${c.transcriptDigest}`;
  return (await git(['commit-tree', c.tree, '-p', c.base, '-m', subject, '-m', body, '-m', trailers], { cwd: c.repo, env })).trim();
}

/** Moves `branch` to `commit` and checks it out; the working tree already holds the commit, the index is synced. */
export async function checkoutAgentCommit(repo: string, branch: string, commit: string): Promise<void> {
  await git(['update-ref', `refs/heads/${branch}`, commit], { cwd: repo });
  await git(['symbolic-ref', 'HEAD', `refs/heads/${branch}`], { cwd: repo });
  const r = await runGit(['reset', '--quiet'], { cwd: repo });
  if (r.code !== 0) throw new VouchError('STAGE_TOOL_FAILED', `git reset failed after committing the agent's change: ${r.stderr.trim()}`);
}
