// Stryker (StrykerJS) for the mutation stage: its generic `command` test runner with the repository's test command,
// run as a child process with a configuration file we write, so neither a stryker.config.* of the repository (code
// from the change under review) nor anything outside our scratch directory is used. Stryker copies the project into
// a sandbox directory inside the scratch directory, activates one mutant at a time through the
// __STRYKER_ACTIVE_MUTANT__ environment variable and runs the command; its JSON report (the
// mutation-testing-report-schema, https://github.com/stryker-mutator/mutation-testing-elements) is read back.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { VouchError, errorMessage } from '../../common/errors.ts';
import type { Logger } from '../../common/log.ts';
import { firstLines } from '../git.ts';
import { commandEnv, outputTail, runProcess } from '../process.ts';

/** Mutant statuses of the mutation-testing-report-schema. */
export type MutantStatus = 'Killed' | 'Survived' | 'NoCoverage' | 'Timeout' | 'CompileError' | 'RuntimeError' | 'Ignored' | 'Pending';

const STATUSES: readonly MutantStatus[] = ['Killed', 'Survived', 'NoCoverage', 'Timeout', 'CompileError', 'RuntimeError', 'Ignored', 'Pending'];

export interface Mutant {
  file: string;
  /** 1-based, as in the report */
  line: number;
  column: number;
  mutator: string;
  replacement: string;
  status: MutantStatus;
}

export interface StrykerRun {
  mutants: Mutant[];
  counts: Record<MutantStatus, number>;
  /** percent of valid mutants (killed, timed out, survived, not covered) that were killed or timed out; undefined: none */
  score: number | undefined;
  /** Stryker's JSON report as it wrote it */
  reportJson: string;
  /** Stryker's console output (its log and the test command's failures) */
  output: string;
}

export interface StrykerOptions {
  source: string;
  /** a directory inside `source` that Stryker may write to (removed by the caller) */
  scratch: string;
  /** Stryker `mutate` entries: escaped paths relative to `source`, optionally with `:FROM-TO` line ranges */
  mutate: string[];
  command: string;
  concurrency: number;
  timeoutSeconds: number;
  log: Logger;
}

/** A path as a literal minimatch pattern (Stryker's `mutate` entries are globs). */
export function literalGlob(path: string): string {
  return path.replace(/[\\*?[\]{}()!+@]/g, '\\$&');
}

/** Consecutive line numbers as `FROM-TO` ranges. */
export function lineRanges(lines: Iterable<number>): string[] {
  const sorted = [...new Set(lines)].sort((a, b) => a - b);
  const ranges: string[] = [];
  let from: number | undefined;
  let to = 0;
  for (const n of sorted) {
    if (from !== undefined && n === to + 1) {
      to = n;
      continue;
    }
    if (from !== undefined) ranges.push(`${String(from)}-${String(to)}`);
    from = n;
    to = n;
  }
  if (from !== undefined) ranges.push(`${String(from)}-${String(to)}`);
  return ranges;
}

function strykerBin(): string {
  // resolved from vouch's own dependencies, never from the repository under test
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('@stryker-mutator/core/package.json')), 'bin', 'stryker.js');
}

/** The mutation score: (killed + timeout) / (killed + timeout + survived + no coverage), in percent. */
export function mutationScore(counts: Record<MutantStatus, number>): number | undefined {
  const detected = counts.Killed + counts.Timeout;
  const valid = detected + counts.Survived + counts.NoCoverage;
  return valid === 0 ? undefined : Math.floor((detected / valid) * 10000) / 100;
}

interface ReportMutant {
  mutatorName?: unknown;
  replacement?: unknown;
  status?: unknown;
  location?: { start?: { line?: unknown; column?: unknown } };
}

/** Reads a mutation-testing-report-schema JSON report; STAGE_TOOL_FAILED when it is not one. */
export function parseMutationReport(text: string): Mutant[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new VouchError('STAGE_TOOL_FAILED', `Stryker's JSON report is not JSON: ${errorMessage(err)}`);
  }
  const files = (doc as { files?: unknown } | null)?.files;
  if (typeof files !== 'object' || files === null) throw new VouchError('STAGE_TOOL_FAILED', 'Stryker\'s JSON report has no "files"');
  const mutants: Mutant[] = [];
  for (const [file, entry] of Object.entries(files as Record<string, { mutants?: unknown }>)) {
    if (!Array.isArray(entry.mutants)) throw new VouchError('STAGE_TOOL_FAILED', `Stryker's JSON report: ${file} has no mutants list`);
    for (const m of entry.mutants as ReportMutant[]) {
      const status = STATUSES.find((s) => s === m.status);
      const line = m.location?.start?.line;
      const column = m.location?.start?.column;
      if (status === undefined || typeof line !== 'number' || typeof column !== 'number' || typeof m.mutatorName !== 'string') {
        throw new VouchError('STAGE_TOOL_FAILED', `Stryker's JSON report: a mutant of ${file} lacks a known status, location or mutator`);
      }
      mutants.push({ file, line, column, mutator: m.mutatorName, replacement: typeof m.replacement === 'string' ? m.replacement : '', status });
    }
  }
  return mutants.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.mutator.localeCompare(b.mutator));
}

export async function runStryker(o: StrykerOptions): Promise<StrykerRun> {
  const rel = (p: string): string => relative(o.source, p);
  const reportPath = join(o.scratch, 'mutation-report.json');
  const scratchRel = rel(o.scratch);
  const config = {
    $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
    testRunner: 'command',
    commandRunner: { command: o.command },
    mutate: o.mutate,
    // Stryker's own plugins only (the command runner is built in); nothing is loaded from the repository
    plugins: [],
    checkers: [],
    reporters: ['json'],
    jsonReporter: { fileName: join(scratchRel, 'mutation-report.json') },
    tempDirName: join(scratchRel, 'stryker-tmp'),
    cleanTempDir: 'always',
    // the sandbox copy leaves out vouch's own state
    ignorePatterns: ['/.vouch/tmp', '/.vouch/reports'],
    incremental: false,
    concurrency: o.concurrency,
    logLevel: 'info',
    fileLogLevel: 'off',
    allowConsoleColors: false,
    // the threshold is ours (the base policy), judged after the run; Stryker must not exit non-zero for it
    thresholds: { high: 80, low: 60, break: null },
  };
  const configPath = join(o.scratch, 'stryker.config.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const tmp = join(o.scratch, 'tmp');
  await mkdir(tmp, { recursive: true });
  o.log.info({ mutate: o.mutate, command: o.command }, 'running Stryker (command test runner)');
  const ran = await runProcess(process.execPath, [strykerBin(), 'run', configPath], {
    cwd: o.source,
    // temporary files of Stryker and of the test command stay in the scratch directory
    env: commandEnv({ TMPDIR: tmp, TMP: tmp, TEMP: tmp, FORCE_COLOR: '0' }),
    timeoutSeconds: o.timeoutSeconds,
    what: 'Stryker',
  });
  const output = outputTail(ran.stdout + (ran.stderr ? '\n--- stderr ---\n' + ran.stderr : ''));
  if (ran.timedOut) throw new VouchError('STAGE_TOOL_FAILED', `Stryker did not finish within ${String(o.timeoutSeconds)} s (mutation.timeout-seconds) and was stopped`);
  if (ran.code !== 0) {
    const errors = output.split('\n').filter((l) => / ERROR /.test(l)).map((l) => l.replace(/^.*? ERROR \S+\s*/, ''));
    const why = errors.length ? errors.join(' / ') : firstLines(ran.stderr || ran.stdout);
    const initial = /failed tests in the initial test run|tests failed in the initial test run|initial test run timed out/i.test(output);
    throw new VouchError(
      'STAGE_TOOL_FAILED',
      initial
        ? `the test command fails on the unmutated head (Stryker's initial test run), so no mutant can be judged: ${why}`
        : `Stryker failed (exit ${String(ran.code ?? ran.signal)}): ${why}`,
      { details: { output: output.slice(-4000) } },
    );
  }
  let reportJson: string;
  try {
    reportJson = await readFile(reportPath, 'utf8');
  } catch (err) {
    throw new VouchError('STAGE_TOOL_FAILED', `Stryker wrote no JSON report: ${errorMessage(err)}`);
  }
  const mutants = parseMutationReport(reportJson);
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<MutantStatus, number>;
  for (const m of mutants) counts[m.status]++;
  return { mutants, counts, score: mutationScore(counts), reportJson, output };
}
