// Stage `test`: runs the project's test command in the source workspace (already inside the runner's sandbox, no
// network), reads its results (JUnit XML or TAP report files, or TAP on stdout), and flags tests the change deleted
// or newly skipped (from the test declarations of the changed files at base and head). The report directory gets
// the in-toto test-result predicate body (test-result.json) and the command's output; TEST_OUTPUT is the verdict.
// The command, report files and what a deleted/skipped test means come from the BASE revision's policy (`test`
// section); the Task's `command`/`junit` params override the command and the report files.

import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { TEST_RESULT_V01 } from '../../attest/predicates.ts';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { evidence, outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { changedFiles, git, policyAtBase, resolveCommit, runGit } from '../git.ts';
import { commandEnv, outputTail as tail, runProcess, type ProcessRun } from '../process.ts';
import { TEST_SOURCE, compareDeclarations } from './declarations.ts';
import { parseReport, parseTap, type TestCase } from './reports.ts';


/** The in-toto test-result v0.1 predicate body. */
export interface TestResultPredicate {
  result: 'PASSED' | 'WARNED' | 'FAILED';
  configuration: ResourceDescriptor[];
  passedTests: string[];
  warnedTests: string[];
  failedTests: string[];
}

interface ResourceDescriptor {
  name: string;
  digest: Record<string, string>;
  content?: string;
  annotations?: Record<string, string>;
}

function runCommand(command: string, cwd: string, timeoutSeconds: number): Promise<ProcessRun> {
  return runProcess('sh', ['-c', command], { cwd, env: commandEnv(), timeoutSeconds, what: 'the test command' });
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A report path inside the workspace (absolute paths allowed only when they stay inside it). */
function reportPath(source: string, p: string): string {
  const full = isAbsolute(p) ? p : resolve(source, p);
  const rel = relative(source, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new VouchError('STAGE_USAGE', `test report ${p} is outside the source workspace`);
  return full;
}

async function showFile(repo: string, commit: string, path: string): Promise<string | undefined> {
  const r = await runGit(['show', `${commit}:${path}`], { cwd: repo });
  return r.code === 0 ? r.stdout : undefined;
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const base = await resolveCommit(ctx.source, ctx.params['base-revision'] ?? '');
  const head = await resolveCommit(ctx.source, ctx.params['head-revision'] ?? '');
  const checkedOut = (await git(['rev-parse', 'HEAD'], { cwd: ctx.source })).trim();
  if (checkedOut !== head) throw new VouchError('STAGE_INPUT_INVALID', `the workspace has ${checkedOut} checked out, not the head revision ${head}: the tests would not test the change`);
  const { policy, source: policySource } = await policyAtBase(ctx.source, base);
  const t = policy.test;
  const commandParam = ctx.params['command'] || undefined;
  const command = commandParam ?? t.command;
  if (command === '') throw new VouchError('STAGE_USAGE', `no test command: set test.command in ${policySource} or pass --command`);
  const junitParam = ctx.params['junit'] || undefined;
  const reports = junitParam !== undefined ? junitParam.split(',').map((p) => p.trim()).filter((p) => p !== '') : t.reports;
  const format = junitParam !== undefined ? 'junit' : t.format;
  const reportFiles = reports.map((p) => ({ name: p, path: reportPath(ctx.source, p) }));

  // static: tests the change deleted or newly skipped
  const deleted: { file: string; name: string }[] = [];
  const newlySkipped: { file: string; name: string }[] = [];
  const newlyFocused: { file: string; name: string }[] = [];
  for (const f of await changedFiles(ctx.source, base, head)) {
    const basePath = f.from ?? f.path;
    if (!TEST_SOURCE.test(f.path) && !TEST_SOURCE.test(basePath)) continue;
    const before = f.status === 'A' ? undefined : await showFile(ctx.source, base, basePath);
    const after = f.status === 'D' ? undefined : await showFile(ctx.source, head, f.path);
    const c = compareDeclarations(f.path, before, after);
    deleted.push(...c.deleted);
    newlySkipped.push(...c.skipped);
    newlyFocused.push(...c.focused);
  }

  // a stale report from an earlier run must not stand in for this one
  for (const r of reportFiles) {
    try {
      await rm(r.path, { force: true });
    } catch (err) {
      throw new VouchError('STAGE_INPUT_INVALID', `test report ${r.name} cannot be cleared before the run: ${errorMessage(err)}`);
    }
  }
  ctx.log.info({ command, reports, cwd: ctx.source }, 'running the test command');
  const ran = await runCommand(command, ctx.source, t['timeout-seconds']);
  if (ran.timedOut) throw new VouchError('STAGE_TOOL_FAILED', `the test command did not finish within ${String(t['timeout-seconds'])} s (test.timeout-seconds) and was stopped`);

  const cases: TestCase[] = [];
  if (reportFiles.length === 0) {
    cases.push(...parseTap(ran.stdout, 'the test command\'s stdout'));
  } else {
    for (const r of reportFiles) {
      let text: string;
      try {
        text = await readFile(r.path, 'utf8');
      } catch (err) {
        throw new VouchError('STAGE_INPUT_INVALID', `test report ${r.name} cannot be read after the test command (exit ${String(ran.code ?? ran.signal)}): ${errorMessage(err)}`);
      }
      cases.push(...parseReport(text, r.name, format));
    }
  }

  const passedTests = cases.filter((c) => c.status === 'passed').map((c) => c.name);
  const failed = cases.filter((c) => c.status === 'failed');
  const warnedTests = cases.filter((c) => c.status === 'skipped').map((c) => c.name);
  const reasons: string[] = [];
  for (const c of failed) reasons.push(`test failed: ${c.name}${c.message ? ` (${c.message})` : ''}`);
  if (ran.code !== 0 && failed.length === 0) reasons.push(`the test command exited ${String(ran.code ?? ran.signal)} with no failing test in its report`);
  if (cases.length === 0) reasons.push('no test ran');
  if (!t['allow-deleted-tests']) for (const d of deleted) reasons.push(`test deleted by the change: ${d.name} (${d.file})`);
  if (!t['allow-skipped-tests']) for (const s of newlySkipped) reasons.push(`test skipped by the change: ${s.name} (${s.file})`);
  // .only skips every other test under the runners that honour it: the same as skipping them
  if (!t['allow-skipped-tests']) for (const s of newlyFocused) reasons.push(`test focused with .only by the change (other tests may not run): ${s.name} (${s.file})`);
  const passed = reasons.length === 0;

  const configuration: ResourceDescriptor[] = [
    { name: 'command', digest: { sha256: sha256(command) }, content: Buffer.from(command, 'utf8').toString('base64'), annotations: { from: commandParam !== undefined ? 'param' : policySource } },
  ];
  if (!policySource.startsWith('default')) {
    const blob = (await git(['rev-parse', policySource], { cwd: ctx.source })).trim();
    configuration.push({ name: policySource.slice(policySource.indexOf(':') + 1), digest: { gitBlob: blob }, annotations: { commit: base } });
  }
  // a change that deletes or skips tests must not carry a PASSED attestation
  const predicate: TestResultPredicate = {
    result: !passed ? 'FAILED' : warnedTests.length ? 'WARNED' : 'PASSED',
    configuration,
    passedTests,
    warnedTests,
    failedTests: failed.map((c) => c.name),
  };
  const failures = failed.length + (t['allow-deleted-tests'] ? 0 : deleted.length) + (t['allow-skipped-tests'] ? 0 : newlySkipped.length + newlyFocused.length) + (ran.code !== 0 && failed.length === 0 ? 1 : 0) + (cases.length === 0 ? 1 : 0);
  const note = passed
    ? `${String(passedTests.length)} passed, ${String(warnedTests.length)} skipped`
    : `${String(reasons.length)} problem(s): ${reasons.slice(0, 5).join('; ')}${reasons.length > 5 ? '; …' : ''}`;
  evidence(ctx, 'TEST_EVIDENCE', TEST_RESULT_V01, predicate, { file: 'test-result.json' });
  return {
    results: {
      TEST_OUTPUT: testOutput({ result: outcomeOf({ failures, warnings: warnedTests.length }), namespace: 'vouch.test', successes: passedTests.length, failures, warnings: warnedTests.length, note: note.slice(0, 1000), timestamp: ctx.now }),
    },
    gate: { passed, reasons },
    files: { 'output.log': tail(ran.stdout + (ran.stderr ? '\n--- stderr ---\n' + ran.stderr : '')) },
    report: { base, head, policy: policySource, command, reports, exitCode: ran.code, predicateType: TEST_RESULT_V01, tests: cases, deletedTests: deleted, skippedTests: newlySkipped, focusedTests: newlyFocused },
  };
}

export const testStage: Stage = {
  name: 'test',
  description: 'run the test command; read JUnit/TAP results; fail on failing, deleted or newly skipped tests',
  params: [
    { name: 'base-revision', description: 'the base commit of the change (its policy applies)', required: true },
    { name: 'head-revision', description: 'the head commit of the change (checked out in the workspace)', required: true },
    { name: 'command', description: 'test command (sh -c) instead of the policy\'s test.command' },
    { name: 'junit', description: 'JUnit XML report file(s) the command writes, comma-separated, instead of the policy\'s test.reports' },
  ],
  results: [
    { name: 'TEST_OUTPUT', description: 'verdict in the Konflux TEST_OUTPUT convention' },
    { name: 'TEST_EVIDENCE', description: 'the test-result predicate for the sidecar: {predicateType, uri, digest} of test-result.json' },
  ],
  run,
};
