// What the classify and gate stages and `vouch brief` know about a change, read from git (never from files a step
// could have rewritten): changed files with line counts, commits with their authors and agent trailers, the
// dependency diff of the lockfile at base and head, tests deleted or newly skipped. Plus, for the brief only, what
// other stages reported in the workspace (informational: the gate decides from Tekton results, not these files).

import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSbom } from '../sbom/read.ts';
import { diffSboms } from '../sbom/diff.ts';
import { baseSbomJson } from '../sbom/index.ts';
import { REPORTS_DIR } from '../framework.ts';
import { changedFiles, git, runGit } from '../git.ts';
import { TEST_SOURCE, compareDeclarations } from '../test/declarations.ts';
import type { BriefGate, BriefVulnerability, ChangedFileFacts, CommitFacts, DependencyFacts, TestFacts } from '../../policy/index.ts';

/** Changed files base..head with added/deleted line counts (binary files count 0). */
export async function changedFileFacts(repo: string, base: string, head: string): Promise<ChangedFileFacts[]> {
  const files = await changedFiles(repo, base, head);
  const numstat = await git(['diff', '--numstat', '-z', '--find-renames', base, head, '--'], { cwd: repo });
  const counts = new Map<string, { additions: number; deletions: number }>();
  const parts = numstat.split('\0');
  for (let i = 0; i < parts.length; ) {
    const head3 = parts[i++] ?? '';
    if (head3 === '') continue;
    const [a = '-', d = '-', path = ''] = head3.split('\t');
    let target = path;
    // a rename: "a\td\t" then the old and the new path as their own fields
    if (path === '') {
      i++;
      target = parts[i++] ?? '';
    }
    counts.set(target, { additions: a === '-' ? 0 : Number(a), deletions: d === '-' ? 0 : Number(d) });
  }
  return files.map((f) => ({ path: f.path, status: f.status, ...(f.from !== undefined ? { from: f.from } : {}), ...(counts.get(f.path) ?? { additions: 0, deletions: 0 }) }));
}

/** The commits base..head, oldest first, with author and committer e-mails and whether they carry the agent trailer. */
export async function commitFacts(repo: string, base: string, head: string, agentTrailer: string): Promise<CommitFacts[]> {
  const format = `%H%x1f%ae%x1f%ce%x1f%s%x1f%(trailers:key=${agentTrailer},valueonly,separator=%x1d)%x1e`;
  const out = await git(['log', '--reverse', `--format=${format}`, `${base}..${head}`, '--'], { cwd: repo });
  return out
    .split('\x1e')
    .map((r) => r.replace(/^\n/, ''))
    .filter((r) => r !== '')
    .map((r) => {
      const [sha = '', authorEmail = '', committerEmail = '', subject = '', trailers = ''] = r.split('\x1f');
      return { sha, authorEmail, committerEmail, subject, agent: trailers.trim() !== '' };
    });
}

/** The dependency diff between the lockfile at base and at head; undefined when neither has one. */
export async function dependencyFacts(repo: string, base: string, head: string, lockfile: string): Promise<DependencyFacts | undefined> {
  const before = await baseSbomJson(repo, base, lockfile);
  const after = await baseSbomJson(repo, head, lockfile);
  if (before === undefined && after === undefined) return undefined;
  const empty = { bomFormat: 'CycloneDX', specVersion: '1.6', components: [] };
  const diff = diffSboms(parseSbom(`${base}:${lockfile}`, before === undefined ? empty : JSON.parse(before)), parseSbom(`${head}:${lockfile}`, after === undefined ? empty : JSON.parse(after)));
  return { added: diff.added, removed: diff.removed, changed: diff.changed.map((c) => ({ name: c.name, before: c.before, after: c.after })) };
}

async function show(repo: string, rev: string, path: string): Promise<string | undefined> {
  const r = await runGit(['show', `${rev}:${path}`], { cwd: repo });
  return r.code === 0 ? r.stdout : undefined;
}

/** Tests the change deletes, newly skips or newly focuses (the test stage's own rules, src/stages/test/declarations.ts). */
export async function testFacts(repo: string, base: string, head: string, files: readonly ChangedFileFacts[]): Promise<TestFacts> {
  const out: TestFacts = { deleted: [], skipped: [], focused: [] };
  for (const f of files) {
    const basePath = f.from ?? f.path;
    if (!TEST_SOURCE.test(f.path) && !TEST_SOURCE.test(basePath)) continue;
    const before = f.status === 'A' ? undefined : await show(repo, base, basePath);
    const after = f.status === 'D' ? undefined : await show(repo, head, f.path);
    const c = compareDeclarations(f.path, before, after);
    out.deleted.push(...c.deleted);
    out.skipped.push(...c.skipped);
    out.focused.push(...c.focused);
  }
  return out;
}

export interface WorkspaceReports {
  gates: BriefGate[];
  /** by stage: the TEST_OUTPUT result value ("SUCCESS", ...) when the stage wrote one */
  stages: Record<string, { passed: boolean; result: string }>;
  vulnerabilities: BriefVulnerability[] | undefined;
}

/** What the other stages left in `<source>/.vouch/reports/` (not `skip`), for the brief and the CEL input. */
export async function workspaceReports(source: string, skip: readonly string[]): Promise<WorkspaceReports> {
  const dir = join(source, REPORTS_DIR);
  const gates: BriefGate[] = [];
  const stages: WorkspaceReports['stages'] = {};
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.') && !skip.includes(n)).sort();
  } catch {
    // no reports yet
  }
  for (const name of names) {
    try {
      const r = JSON.parse(await readFile(join(dir, name, 'report.json'), 'utf8')) as { passed?: unknown; reasons?: unknown; results?: Record<string, unknown> };
      if (typeof r.passed !== 'boolean') continue;
      const reasons = Array.isArray(r.reasons) ? r.reasons.filter((x): x is string => typeof x === 'string') : [];
      gates.push({ stage: name, passed: r.passed, reasons });
      let result = r.passed ? 'SUCCESS' : 'FAILURE';
      const to = r.results?.['TEST_OUTPUT'];
      if (typeof to === 'string') {
        try {
          const parsed = JSON.parse(to) as { result?: unknown };
          if (typeof parsed.result === 'string') result = parsed.result;
        } catch {
          // keep passed/failed
        }
      }
      stages[name] = { passed: r.passed, result };
    } catch {
      // not a stage report
    }
  }
  let vulnerabilities: BriefVulnerability[] | undefined;
  const scaFile = join(dir, 'sca', 'sca.json');
  if (existsSync(scaFile)) {
    try {
      const sca = JSON.parse(await readFile(scaFile, 'utf8')) as { vulnerabilities?: Record<string, unknown>[] };
      const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
      vulnerabilities = (sca.vulnerabilities ?? []).map((v) => ({
        id: str(v['id']),
        package: str(v['package']),
        version: str(v['version']),
        severity: str(v['severity'], 'unknown'),
        summary: typeof v['summary'] === 'string' ? v['summary'] : '',
        fixed: typeof v['fixed'] === 'string' ? v['fixed'] : '',
        failing: v['failing'] === true,
      }));
    } catch {
      vulnerabilities = undefined;
    }
  }
  return { gates, stages, vulnerabilities };
}
