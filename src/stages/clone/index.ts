// Stage `clone`: fetch a repository at a revision into the source workspace, record the change (base..head diff and
// changed files) for later stages, and report and gate on commit signatures (docs/policy.md, section clone).
// The checkout is built in a temporary directory inside the workspace and moved into place only when everything
// else succeeded, so a failed clone leaves the workspace as it was.

import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VouchError } from '../../common/errors.ts';
import { outcomeOf, redactCredentials, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { changedFiles, diffText, firstLines, git, policyAtBase, runGit } from '../git.ts';
import { commitSignatures, type CommitSignature } from './signatures.ts';

const TMP_PREFIX = '.vouch-clone-';

/** A URL without user:password@ (never in results, logs or errors). */
export const redactUrl = redactCredentials;

function isRemoteUrl(url: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || /^[^/\s]+@[^/\s]+:/.test(url);
}

/** What git is given: URLs as they are; local paths made absolute. */
function fetchSource(url: string): string {
  return isRemoteUrl(url) ? url : resolve(url);
}

/** The repository URL for provenance (CHAINS-GIT_URL): file:// for local paths, credentials removed. */
export function chainsUrl(url: string): string {
  return isRemoteUrl(url) ? redactUrl(url) : pathToFileURL(resolve(url)).href;
}

async function fetchRevision(repo: string, url: string, revision: string): Promise<string> {
  if (revision.startsWith('-')) throw new VouchError('STAGE_USAGE', `revision "${revision}" must not start with "-"`);
  const r = await runGit(['fetch', '--quiet', '--no-tags', '--end-of-options', fetchSource(url), revision], { cwd: repo });
  if (r.code !== 0) {
    const msg = firstLines(r.stderr.split(url).join(redactUrl(url)));
    if (/couldn't find remote ref|not our ref|invalid refspec|no such ref|bad object|unadvertised object/i.test(r.stderr)) {
      throw new VouchError('STAGE_REVISION_NOT_FOUND', `revision "${revision}" does not exist in ${redactUrl(url)}: ${msg}`, { details: { revision } });
    }
    if (/does not appear to be a git repository|could not read from remote|not found|unable to access|no such file|does not exist/i.test(r.stderr)) {
      throw new VouchError('STAGE_REPO_NOT_FOUND', `repository ${redactUrl(url)} cannot be read: ${msg}`);
    }
    throw new VouchError('STAGE_TOOL_FAILED', `git fetch of ${redactUrl(url)} at "${revision}" failed: ${msg}`);
  }
  return (await git(['rev-parse', '--verify', 'FETCH_HEAD^{commit}'], { cwd: repo })).trim();
}

function describe(c: CommitSignature): string {
  const s = c.signature;
  const who = s.status === 'G' ? `signed by ${s.signer} (${s.role ?? 'no role'})` : s.meaning;
  return `${c.commit.slice(0, 12)} ${who}${c.agentRuns.length ? `, agent run ${c.agentRuns.join(', ')}` : ''}`;
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const url = ctx.params['url'] ?? '';
  const revision = ctx.params['revision'] ?? 'HEAD';
  const baseRevision = ctx.params['base-revision'] || undefined;
  await mkdir(ctx.source, { recursive: true });
  const existing = await readdir(ctx.source);
  if (existing.length > 0) {
    throw new VouchError('STAGE_USAGE', `workspace ${ctx.source} is not empty (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', …' : ''}); clone needs an empty workspace`);
  }
  const tmp = await mkdtemp(join(ctx.source, TMP_PREFIX));
  const discard = (): Promise<void> => rm(tmp, { recursive: true, force: true });
  try {
    await git(['init', '--quiet', tmp], { cwd: ctx.source });
    const head = await fetchRevision(tmp, url, revision);
    const base = baseRevision === undefined ? undefined : await fetchRevision(tmp, url, baseRevision);
    await git(['update-ref', 'refs/vouch/head', head], { cwd: tmp });
    if (base) await git(['update-ref', 'refs/vouch/base', base], { cwd: tmp });
    await git(['checkout', '--quiet', '--detach', head], { cwd: tmp });
    // FETCH_HEAD records the URL as given, credentials included: the workspace must not keep them
    await rm(join(tmp, '.git', 'FETCH_HEAD'), { force: true });

    const { policy, source: policySource } = await policyAtBase(tmp, base);
    const clonePolicy = policy.clone;
    const commits = await commitSignatures(tmp, base ? [`${base}..${head}`] : ['-1', head], clonePolicy);
    const headInfo = commits.find((c) => c.commit === head) ?? (await commitSignatures(tmp, ['-1', head], clonePolicy))[0];
    if (!headInfo) throw new VouchError('INTERNAL', `head commit ${head} missing from git log`);

    const reasons: string[] = [];
    const headHuman = headInfo.signature.status === 'G' && headInfo.signature.role === 'human';
    if (clonePolicy['require-signed-head'] && !headHuman) {
      reasons.push(
        `policy (${policySource}) requires a human signature on the head commit ${head}, but it has ${
          headInfo.signature.status === 'G' ? `a signature by ${headInfo.signature.signer}, whose role is ${headInfo.signature.role ?? 'unknown'}` : `${headInfo.signature.meaning} (%G? = ${headInfo.signature.status})`
        }`,
      );
    }
    const good = commits.filter((c) => c.signature.status === 'G').length;
    const notGood = commits.length - good;
    const files: Record<string, string> = { 'commits.json': JSON.stringify(commits, null, 2) + '\n' };
    let changed: Awaited<ReturnType<typeof changedFiles>> = [];
    if (base) {
      changed = await changedFiles(tmp, base, head);
      files['diff.patch'] = await diffText(tmp, base, head);
      files['changed-files.json'] = JSON.stringify(changed, null, 2) + '\n';
      files['changed-files.txt'] = changed.map((f) => f.path + '\n').join('');
    }
    for (const c of commits) ctx.log.info({ commit: c.commit, signature: c.signature, agentRuns: c.agentRuns }, `commit ${describe(c)}`);
    const passed = reasons.length === 0;
    const failures = passed ? 0 : 1;
    const note = passed
      ? `${String(commits.length)} commit(s), ${String(good)} with a good signature; head ${describe(headInfo)}`
      : reasons.join('; ');
    const outcome = outcomeOf({ failures, warnings: notGood });
    return {
      results: {
        commit: head,
        url: redactUrl(url),
        'CHAINS-GIT_URL': chainsUrl(url),
        'CHAINS-GIT_COMMIT': head,
        ...(base ? { 'base-commit': base } : {}),
        TEST_OUTPUT: testOutput({ result: outcome, namespace: 'vouch.clone', successes: good, failures, warnings: notGood, note: note.slice(0, 1000), timestamp: ctx.now }),
      },
      gate: { passed, reasons },
      files,
      report: {
        url: redactUrl(url),
        head,
        ...(base ? { base } : {}),
        policy: policySource,
        requireSignedHead: clonePolicy['require-signed-head'],
        headSignedByHuman: headHuman,
        commits: commits.map((c) => ({ commit: c.commit, status: c.signature.status, signer: c.signature.signer, role: c.signature.role, agentRuns: c.agentRuns })),
        changedFiles: changed.length,
      },
      finalize: async () => {
        for (const name of await readdir(tmp)) await rename(join(tmp, name), join(ctx.source, name));
        await rm(tmp, { recursive: true, force: true });
      },
      discard,
    };
  } catch (err) {
    await discard();
    throw err;
  }
}

export const cloneStage: Stage = {
  name: 'clone',
  createsSource: true,
  description: 'fetch a repository (URL or local path) at a revision into the source workspace; verify commit signatures',
  params: [
    { name: 'url', description: 'repository URL or local path (file:// and paths work offline)', required: true },
    { name: 'revision', description: 'the head revision to check out (branch, tag or commit)', default: 'HEAD' },
    { name: 'base-revision', description: 'the base revision of the change: its policy applies, base..head is the change' },
  ],
  results: [
    { name: 'commit', description: 'the commit checked out' },
    { name: 'url', description: 'the repository URL (credentials removed)' },
    { name: 'CHAINS-GIT_URL', description: 'the repository URL for Tekton Chains provenance (file:// for local paths)' },
    { name: 'CHAINS-GIT_COMMIT', description: 'the commit for Tekton Chains provenance' },
    { name: 'base-commit', description: 'the base commit (when base-revision was given)' },
    { name: 'TEST_OUTPUT', description: 'signature verdict in the Konflux TEST_OUTPUT convention' },
  ],
  run,
};

