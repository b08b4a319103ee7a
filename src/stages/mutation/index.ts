// Stage `mutation`: mutation testing of the source files a change touched (Stryker, stryker.ts) and fuzzing of the
// targets the base policy declares (fast-check, fuzz.ts), each optional, one verdict. Weak tests written with a
// change (by an agent, say) let mutants survive; the base policy's `mutation.threshold` is the lowest mutation score
// that passes, and any fuzz crash fails. Everything runs in the checked-out head inside the runner's sandbox (no
// network); Stryker and the fuzz processes write only into a scratch directory under .vouch/tmp/ of the workspace,
// removed before the stage returns. docs/mutation.md explains the choices.

import { mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { join, matchesGlob } from 'node:path';
import { VouchError } from '../../common/errors.ts';
import { testOutput, type Stage, type StageContext, type StageOutcome, type TestOutcome } from '../framework.ts';
import { addedLines, changedFiles, git, policyAtBase, resolveCommit, type ChangedFile } from '../git.ts';
import { fuzzTarget, type FuzzFinding } from './fuzz.ts';
import { lineRanges, literalGlob, runStryker, type Mutant, type StrykerRun } from './stryker.ts';

const SCRATCH_PARENT = '.vouch/tmp';

/** Mutants that were not detected: survived, or not reached by any test. */
function undetected(m: Mutant): boolean {
  return m.status === 'Survived' || m.status === 'NoCoverage';
}

function describeMutant(m: Mutant): string {
  return `${m.file}:${String(m.line)}:${String(m.column)} ${m.mutator} → ${JSON.stringify(m.replacement.length > 60 ? m.replacement.slice(0, 57) + '...' : m.replacement)}`;
}

/** Changed files (added, modified, renamed, copied) the policy says are mutated. */
function mutationCandidates(files: ChangedFile[], include: readonly string[], exclude: readonly string[]): string[] {
  return files
    .filter((f) => f.status !== 'D')
    .map((f) => f.path)
    .filter((p) => include.some((g) => matchesGlob(p, g)) && !exclude.some((g) => matchesGlob(p, g)))
    .sort();
}

/** A fixed seed per head commit: a change is fuzzed the same way on every run, different changes differently. */
function seedOf(head: string): number {
  return parseInt(head.slice(0, 8), 16) | 0;
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const base = await resolveCommit(ctx.source, ctx.params['base-revision'] ?? '');
  const head = await resolveCommit(ctx.source, ctx.params['head-revision'] ?? '');
  const checkedOut = (await git(['rev-parse', 'HEAD'], { cwd: ctx.source })).trim();
  if (checkedOut !== head) throw new VouchError('STAGE_INPUT_INVALID', `the workspace has ${checkedOut} checked out, not the head revision ${head}: the mutants would not be of the change`);
  const { policy, source: policySource } = await policyAtBase(ctx.source, base);
  const m = policy.mutation;
  const fz = policy.fuzz;
  // from git, not from the clone stage's changed-files.json: that file sits in the workspace, where every earlier
  // stage's test command could rewrite it; the diff of the two commits cannot be
  const changed = await changedFiles(ctx.source, base, head);
  const candidates = m.enabled ? mutationCandidates(changed, m.include, m.exclude) : [];
  const reasons: string[] = [];
  const notes: string[] = [];
  const files: Record<string, string | Uint8Array> = {};

  if (changed.length === 0) {
    const note = `the change ${base.slice(0, 12)}..${head.slice(0, 12)} changes no file: nothing to mutate or fuzz`;
    return {
      results: { MUTATION_SCORE: '', SURVIVED: '0', FUZZ_CRASHES: '0', TEST_OUTPUT: testOutput({ result: 'SKIPPED', namespace: 'vouch.mutation', successes: 0, failures: 0, warnings: 0, note, timestamp: ctx.now }) },
      gate: { passed: true, reasons: [note] },
      files: {},
      report: { base, head, policy: policySource, changedFiles: 0, mutation: { ran: false, why: note }, fuzz: [] },
    };
  }

  // mutate: whole files, or only the lines the change added (Stryker's `file:FROM-TO` ranges)
  let mutate: string[] = candidates.map(literalGlob);
  if (m.scope === 'touched-lines' && candidates.length > 0) {
    const added = new Map((await addedLines(ctx.source, base, head)).map((a) => [a.path, a.lines]));
    mutate = candidates.flatMap((p) => lineRanges(added.get(p)?.keys() ?? []).map((r) => `${literalGlob(p)}:${r}`));
  }
  const command = ctx.params['command'] || m.command || policy.test.command;
  if (mutate.length > 0 && command === '') throw new VouchError('STAGE_USAGE', `no test command for mutation testing: set mutation.command or test.command in ${policySource}, or pass --command`);

  await mkdir(join(ctx.source, SCRATCH_PARENT), { recursive: true });
  const scratch = await mkdtemp(join(ctx.source, SCRATCH_PARENT, 'mutation-'));
  let stryker: StrykerRun | undefined;
  const fuzz: FuzzFinding[] = [];
  try {
    if (mutate.length > 0) {
      stryker = await runStryker({ source: ctx.source, scratch, mutate, command, concurrency: m.concurrency, timeoutSeconds: m['timeout-seconds'], log: ctx.log });
      files['mutation-report.json'] = stryker.reportJson;
      files['stryker.log'] = stryker.output;
    } else {
      notes.push(!m.enabled ? 'mutation testing is off (mutation.enabled: false)' : candidates.length === 0 ? 'no changed source file to mutate' : 'the change adds no line to mutate in its source files');
    }
    const seed = seedOf(head);
    for (const target of fz.targets) {
      ctx.log.info({ target: target.name, module: target.module, runs: fz.runs, seed }, 'fuzzing');
      const r = await fuzzTarget({ source: ctx.source, scratch, target, runs: fz.runs, timeoutSeconds: fz['timeout-seconds'], seed });
      Object.assign(files, r.files);
      fuzz.push(r.finding);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    // .vouch/tmp goes too when nothing else is in it
    await rmdir(join(ctx.source, SCRATCH_PARENT)).catch(() => undefined);
  }

  const survivors = stryker?.mutants.filter(undetected) ?? [];
  const score = stryker?.score;
  let mutationFailed = false;
  if (stryker && score === undefined) {
    notes.push(`Stryker made no mutant that a test could judge in ${String(candidates.length)} file(s)`);
  } else if (stryker && score !== undefined) {
    const summary = `mutation score ${score.toFixed(2)}% (${String(stryker.counts.Killed + stryker.counts.Timeout)} of ${String(stryker.counts.Killed + stryker.counts.Timeout + survivors.length)} mutants detected)`;
    if (score < m.threshold) {
      mutationFailed = true;
      reasons.push(
        `${summary} is below the threshold ${String(m.threshold)}% (${policySource}); ${String(survivors.length)} mutant(s) survived: ${survivors.slice(0, 5).map(describeMutant).join('; ')}${survivors.length > 5 ? '; …' : ''}`,
      );
    } else {
      notes.push(`${summary}, threshold ${String(m.threshold)}%`);
    }
  }
  const crashes = fuzz.filter((f) => f.status === 'crashed');
  for (const c of crashes) reasons.push(`fuzz target ${c.target} (${c.module} ${c.function}) crashed: ${(c.error ?? '').split('\n')[0] ?? ''} (reproducer: ${c.reproducer ?? ''})`);
  for (const f of fuzz) if (f.status === 'passed') notes.push(`fuzz target ${f.target}: ${String(f.runs)} runs, no crash${f.interrupted ? ' (stopped at the time bound)' : ''}`);

  const passed = reasons.length === 0;
  const ranSomething = stryker !== undefined || fuzz.length > 0;
  // checks: the mutation threshold (when a score exists) and each fuzz target; surviving mutants under a passing
  // score are warnings
  const successes = (stryker && score !== undefined && !mutationFailed ? 1 : 0) + fuzz.length - crashes.length;
  const failures = (mutationFailed ? 1 : 0) + crashes.length;
  const warnings = mutationFailed ? 0 : survivors.length;
  const result: TestOutcome = failures > 0 ? 'FAILURE' : !ranSomething || (score === undefined && fuzz.length === 0) ? 'SKIPPED' : warnings > 0 ? 'WARNING' : 'SUCCESS';
  const note = passed ? notes.join('; ') : `${String(reasons.length)} problem(s): ${reasons.join('; ')}`;
  return {
    results: {
      MUTATION_SCORE: score === undefined ? '' : score.toFixed(2),
      SURVIVED: String(survivors.length),
      FUZZ_CRASHES: String(crashes.length),
      TEST_OUTPUT: testOutput({ result, namespace: 'vouch.mutation', successes, failures, warnings, note: note.slice(0, 1000), timestamp: ctx.now }),
    },
    gate: { passed, reasons: passed ? notes : reasons },
    files,
    report: {
      base,
      head,
      policy: policySource,
      changedFiles: changed.length,
      mutation: stryker
        ? { ran: true, command, mutate, threshold: m.threshold, score: score ?? null, counts: stryker.counts, survived: survivors }
        : { ran: false, why: notes[0] ?? '' },
      fuzz,
    },
  };
}

export const mutationStage: Stage = {
  name: 'mutation',
  description: 'mutation-test the changed source files (Stryker) against the base policy\'s score threshold; fuzz its declared targets (fast-check)',
  params: [
    { name: 'base-revision', description: 'the base commit of the change (its policy applies)', required: true },
    { name: 'head-revision', description: 'the head commit of the change (checked out in the workspace)', required: true },
    { name: 'command', description: 'test command (sh -c) Stryker runs per mutant, instead of the policy\'s mutation.command or test.command' },
  ],
  results: [
    { name: 'MUTATION_SCORE', description: 'percent of mutants the tests detected (two decimals); empty when nothing was mutated' },
    { name: 'SURVIVED', description: 'mutants no test detected (survived or not covered)' },
    { name: 'FUZZ_CRASHES', description: 'fuzz targets that crashed (reproducers in the report directory)' },
    { name: 'TEST_OUTPUT', description: 'verdict in the Konflux TEST_OUTPUT convention' },
  ],
  run,
};
