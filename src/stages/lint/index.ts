// Stage `lint`: runs the repository's linter and type-checker on the head revision and gates on what the change
// touched. eslint: the repository's own flat config (eslint.config.*) when it has one, else vouch's built-in default
// for JS/TS (typescript-eslint recommended + eslint-plugin-security) on the changed files; `tsc --noEmit` on the whole
// project when tsconfig.json exists; SARIF files other tools wrote (param `sarif`) are merged in. Output: one SARIF
// 2.1.0 log with one run per tool, counts by severity as results, TEST_OUTPUT. Gate (policy `lint`, base branch):
// error-level findings on lines the change added fail; findings elsewhere are warnings.
//
// SECURITY: a repository's eslint.config.js is code (and it imports plugins from the repository's node_modules):
// running it executes the change under review inside this process. That is acceptable only because `vouch task lint`
// runs inside the sandbox (read-only view, no network, no credentials; docs/run.md). Never run this stage outside
// it on untrusted changes. The built-in default and tsc execute nothing from the repository.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import type { ReportingDescriptor, Result as SarifResult, Run } from 'sarif';
import { VouchError, errorMessage } from '../../common/errors.ts';
import type { LintPolicySection } from '../../policy/index.ts';
import { outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { addedLines, changedFiles, firstLines, git, policyAtBase, resolveCommit } from '../git.ts';
import { SRCROOT_BASE, artifactLocation, readSarifFile, sarifLog } from '../sarif.ts';

export type Level = 'error' | 'warning' | 'note';

export interface LintFinding {
  /** the tool (SARIF run) that reported it: eslint, tsc, or an imported run's driver name */
  tool: string;
  ruleId: string;
  level: Level;
  message: string;
  /** repository-relative path; '' for findings without a location (e.g. a broken tsconfig.json) */
  path: string;
  line: number;
  column: number;
  endLine?: number;
  endColumn?: number;
  /** on a line the change added */
  touched: boolean;
  /** fails the gate under the base branch's policy */
  failing: boolean;
}

type RawFinding = Omit<LintFinding, 'touched' | 'failing'>;

const ESLINT_CONFIG_FILES = ['eslint.config.js', 'eslint.config.mjs', 'eslint.config.cjs', 'eslint.config.ts', 'eslint.config.mts', 'eslint.config.cts'];
const JS_TS_FILE = /\.(?:[cm]?[jt]s|[jt]sx)$/;
const JS_TS_GLOBS = ['**/*.js', '**/*.mjs', '**/*.cjs', '**/*.jsx', '**/*.ts', '**/*.mts', '**/*.cts', '**/*.tsx'];

const require = createRequire(import.meta.url);

/** vouch's default for repositories without an eslint config: typescript-eslint recommended + security rules. */
function builtinConfig(): Linter.Config[] {
  // eslint-plugin-security ships no types; its flat `recommended` config is a plain Linter.Config
  const security = require('eslint-plugin-security') as ESLint.Plugin;
  const securityRecommended = security.configs?.['recommended'] as Linter.Config | undefined;
  if (!securityRecommended) throw new VouchError('INTERNAL', 'eslint-plugin-security has no recommended config');
  return [{ ignores: ['.vouch/**', 'node_modules/**'] }, { files: JS_TS_GLOBS }, ...(tseslint.configs.recommended as Linter.Config[]), securityRecommended];
}

interface EslintRun {
  config: string;
  files: string[];
  findings: RawFinding[];
  run: Run;
}

async function runEslint(source: string, changed: readonly string[]): Promise<EslintRun | undefined> {
  const repoConfig = ESLINT_CONFIG_FILES.find((f) => existsSync(join(source, f)));
  // with its own config the repository decides which files are linted; the default lints JS/TS only
  const files = changed.filter((f) => (repoConfig !== undefined || JS_TS_FILE.test(f)) && existsSync(join(source, f)));
  if (files.length === 0) return undefined;
  const eslint = repoConfig
    ? new ESLint({ cwd: source, errorOnUnmatchedPattern: false, warnIgnored: false })
    : new ESLint({ cwd: source, overrideConfigFile: true, overrideConfig: builtinConfig(), errorOnUnmatchedPattern: false, warnIgnored: false });
  let results: ESLint.LintResult[];
  let meta: Record<string, { docs?: { description?: string; url?: string } } | undefined>;
  try {
    results = await eslint.lintFiles(files);
    meta = eslint.getRulesMetaForResults(results);
  } catch (err) {
    throw new VouchError('STAGE_TOOL_FAILED', `eslint failed${repoConfig ? ` with the repository's ${repoConfig}` : ''}: ${firstLines(errorMessage(err))}`, { cause: err });
  }
  const findings: RawFinding[] = [];
  for (const r of results) {
    const path = relative(source, r.filePath).split('\\').join('/');
    for (const m of r.messages) {
      findings.push({
        tool: 'eslint',
        ruleId: m.ruleId ?? (m.fatal ? 'parse-error' : 'eslint'),
        level: m.severity === 2 ? 'error' : 'warning',
        message: m.message,
        path,
        line: Math.max(1, m.line),
        column: Math.max(1, m.column),
        ...(m.endLine !== undefined ? { endLine: m.endLine } : {}),
        ...(m.endColumn !== undefined ? { endColumn: m.endColumn } : {}),
      });
    }
  }
  const rules = [...new Set(findings.map((f) => f.ruleId))].sort().map((id): ReportingDescriptor => {
    const docs = meta[id]?.docs;
    return { id, ...(docs?.description ? { shortDescription: { text: docs.description } } : {}), ...(docs?.url ? { helpUri: docs.url } : {}) };
  });
  return {
    config: repoConfig ?? 'built-in (typescript-eslint recommended + eslint-plugin-security recommended)',
    files,
    findings,
    run: toolRun({ name: 'eslint', version: ESLint.version, informationUri: 'https://eslint.org' }, rules, findings),
  };
}

const TSC_LINE = /^(.+?)\((\d+),(\d+)\): (error|warning|message) (TS\d+): (.*)$/;
const TSC_GLOBAL = /^(error|warning|message) (TS\d+): (.*)$/;

/** Parses `tsc --pretty false` output: `file(line,col): error TSnnnn: text`, continuation lines indented. */
export function parseTscOutput(output: string, source: string): RawFinding[] {
  const findings: RawFinding[] = [];
  const levelOf = (w: string): Level => (w === 'error' ? 'error' : w === 'warning' ? 'warning' : 'note');
  for (const line of output.split('\n')) {
    const m = TSC_LINE.exec(line);
    const g = m ? null : TSC_GLOBAL.exec(line);
    if (m) {
      const file = m[1] ?? '';
      findings.push({ tool: 'tsc', ruleId: m[5] ?? '', level: levelOf(m[4] ?? ''), message: m[6] ?? '', path: (isAbsolute(file) ? relative(source, file) : file).split('\\').join('/'), line: Number(m[2]), column: Number(m[3]) });
    } else if (g) {
      findings.push({ tool: 'tsc', ruleId: g[2] ?? '', level: levelOf(g[1] ?? ''), message: g[3] ?? '', path: '', line: 0, column: 0 });
    } else if (/^\s+\S/.test(line) && findings.length > 0) {
      const last = findings[findings.length - 1];
      if (last) last.message += `\n${line.trim()}`;
    }
  }
  return findings;
}

function tscVersion(): string {
  return (require('typescript/package.json') as { version: string }).version;
}

async function runTsc(source: string): Promise<{ findings: RawFinding[]; run: Run }> {
  const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'));
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done, fail) => {
    execFile(
      process.execPath,
      [tsc, '--noEmit', '--pretty', 'false', '--project', join(source, 'tsconfig.json')],
      { cwd: source, maxBuffer: 256 * 1024 * 1024, env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/nonexistent', LC_ALL: 'C' } },
      (err, out, errOut) => {
        if (err && typeof err.code !== 'number') fail(new VouchError('STAGE_TOOL_FAILED', `cannot run tsc: ${err.message}`, { cause: err }));
        else done({ code: typeof err?.code === 'number' ? err.code : 0, stdout: out, stderr: errOut });
      },
    );
  });
  const findings = parseTscOutput(stdout, source);
  // exit 1/2: diagnostics were reported; anything else, or a failure without a diagnostic, is tsc itself failing
  if (code !== 0 && (findings.length === 0 || (code !== 1 && code !== 2))) {
    throw new VouchError('STAGE_TOOL_FAILED', `tsc --noEmit failed (exit ${String(code)}): ${firstLines(stderr || stdout)}`);
  }
  const rules = [...new Set(findings.map((f) => f.ruleId))].sort().map((id): ReportingDescriptor => ({ id, helpUri: `https://typescript.tv/errors/#${id.toLowerCase()}` }));
  return { findings, run: toolRun({ name: 'tsc', version: tscVersion(), informationUri: 'https://www.typescriptlang.org/' }, rules, findings) };
}

/** One SARIF run for a tool vouch ran; each result says whether the change touched its line. */
function toolRun(driver: { name: string; version: string; informationUri: string }, rules: ReportingDescriptor[], findings: readonly RawFinding[]): Run {
  const ids = rules.map((r) => r.id);
  const results: SarifResult[] = findings.map((f) => ({
    ruleId: f.ruleId,
    ruleIndex: ids.indexOf(f.ruleId),
    level: f.level,
    message: { text: f.message },
    ...(f.path
      ? {
          locations: [
            {
              physicalLocation: {
                artifactLocation: artifactLocation(f.path),
                region: { startLine: f.line, startColumn: f.column, ...(f.endLine !== undefined ? { endLine: f.endLine } : {}), ...(f.endColumn !== undefined ? { endColumn: f.endColumn } : {}) },
              },
            },
          ],
        }
      : {}),
  }));
  return { tool: { driver: { ...driver, rules } }, originalUriBaseIds: SRCROOT_BASE, results };
}

/** Findings of a SARIF run another tool wrote (paths made repository-relative; SARIF's default level is warning). */
function importedFindings(run: Run, source: string): RawFinding[] {
  return (run.results ?? []).map((r) => {
    const physical = r.locations?.[0]?.physicalLocation;
    const uri = physical?.artifactLocation?.uri ?? '';
    let path = '';
    if (uri.startsWith('file:')) path = relative(source, fileURLToPath(uri));
    else if (uri) path = decodeURIComponent(uri).replace(/^\.\//, '');
    const level: Level = r.level === 'error' ? 'error' : r.level === 'note' || r.level === 'none' ? 'note' : 'warning';
    return {
      tool: run.tool.driver.name,
      ruleId: r.ruleId ?? r.rule?.id ?? '',
      level,
      message: r.message.text ?? r.message.id ?? '',
      path: path.split('\\').join('/'),
      line: physical?.region?.startLine ?? 0,
      column: physical?.region?.startColumn ?? 0,
    };
  });
}

/** Whether a finding fails the gate under the `lint` policy. */
export function isFailing(f: { level: Level; touched: boolean }, policy: LintPolicySection): boolean {
  if (policy.gate === 'none') return false;
  const serious = f.level === 'error' || (policy['fail-on-warnings'] && f.level === 'warning');
  return serious && (policy.gate === 'all' || f.touched);
}

function where(f: LintFinding): string {
  return f.path ? `${f.path}:${String(f.line)}:${String(f.column)}` : '(project)';
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const base = await resolveCommit(ctx.source, ctx.params['base-revision'] ?? '');
  const head = await resolveCommit(ctx.source, ctx.params['head-revision'] ?? '');
  const checkedOut = (await git(['rev-parse', 'HEAD'], { cwd: ctx.source })).trim();
  if (checkedOut !== head) throw new VouchError('STAGE_INPUT_INVALID', `the source workspace has ${checkedOut} checked out, not the head revision ${head}: lint must see the code under review`);
  const { policy, source: policySource } = await policyAtBase(ctx.source, base);
  const lintPolicy = policy.lint;

  // imported SARIF first: a missing or malformed file is bad input and must stop the stage before any tool runs
  const imported: Run[] = [];
  for (const p of (ctx.params['sarif'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    imported.push(...(await readSarifFile(isAbsolute(p) ? p : resolve(ctx.source, p), p)).runs);
  }

  const touchedLines = new Map((await addedLines(ctx.source, base, head)).map((f) => [f.path, f.lines] as const));
  const changed = (await changedFiles(ctx.source, base, head)).filter((f) => f.status !== 'D').map((f) => f.path);

  const runs: Run[] = [];
  const raw: RawFinding[] = [];
  const eslintRun = await runEslint(ctx.source, changed);
  if (eslintRun) {
    runs.push(eslintRun.run);
    raw.push(...eslintRun.findings);
  }
  const hasTsconfig = existsSync(join(ctx.source, 'tsconfig.json'));
  let typecheck = 'skipped: no tsconfig.json';
  if (!lintPolicy.typecheck) typecheck = 'skipped: policy lint.typecheck is false';
  else if (hasTsconfig) {
    const tsc = await runTsc(ctx.source);
    runs.push(tsc.run);
    raw.push(...tsc.findings);
    typecheck = 'tsc --noEmit';
  }
  for (const r of imported) {
    runs.push(r);
    raw.push(...importedFindings(r, ctx.source));
  }

  const findings: LintFinding[] = raw.map((f) => {
    const touched = f.path !== '' && touchedLines.get(f.path)?.has(f.line) === true;
    return { ...f, touched, failing: isFailing({ level: f.level, touched }, lintPolicy) };
  });
  const counts = { error: 0, warning: 0, note: 0 };
  for (const f of findings) counts[f.level]++;
  const failing = findings.filter((f) => f.failing);
  const warned = findings.filter((f) => !f.failing && f.level !== 'note');
  const reasons = failing.map((f) => `${where(f)}: ${f.message.split('\n')[0] ?? ''} [${f.tool} ${f.ruleId}]${f.touched ? ' (line touched by the change)' : ''}`);
  for (const f of failing) ctx.log.error({ tool: f.tool, ruleId: f.ruleId, path: f.path, line: f.line }, `lint: ${where(f)}: ${f.message} [${f.ruleId}]`);
  if (warned.length) ctx.log.warn({ warnings: warned.length }, `lint: ${String(warned.length)} finding(s) that do not fail the gate (not on touched lines, or warnings)`);

  const lintedFiles = eslintRun?.files ?? [];
  const dirty = new Set(findings.map((f) => f.path));
  const successes = lintedFiles.filter((f) => !dirty.has(f)).length;
  const tools = runs.map((r) => r.tool.driver.name).join(', ') || 'no tool (nothing to lint)';
  const note = failing.length
    ? `${String(failing.length)} finding(s) fail the gate: ${reasons.slice(0, 5).join('; ')}${reasons.length > 5 ? '; …' : ''}`
    : `${tools}: ${String(counts.error)} error(s), ${String(counts.warning)} warning(s), ${String(counts.note)} note(s); none fails the gate (${lintPolicy.gate})`;
  const results = {
    TEST_OUTPUT: testOutput({ result: outcomeOf({ failures: failing.length, warnings: warned.length }), namespace: 'vouch.lint', successes, failures: failing.length, warnings: warned.length, note: note.slice(0, 1000), timestamp: ctx.now }),
    errors: String(counts.error),
    warnings: String(counts.warning),
    notes: String(counts.note),
  };
  const report = {
    base,
    head,
    policy: policySource,
    gate: lintPolicy,
    eslint: eslintRun ? { config: eslintRun.config, files: eslintRun.files } : { config: 'skipped: no changed file to lint', files: [] },
    typecheck,
    imported: imported.map((r) => r.tool.driver.name),
    counts,
    findings,
  };
  return {
    results,
    gate: { passed: failing.length === 0, reasons },
    files: { 'lint.sarif': JSON.stringify(sarifLog(runs), null, 2) + '\n' },
    report,
  };
}

export const lintStage: Stage = {
  name: 'lint',
  description: "run the repository's eslint config (or vouch's JS/TS default) and tsc --noEmit; findings on lines the change touched fail",
  params: [
    { name: 'base-revision', description: 'the base commit of the change (its policy applies)', required: true },
    { name: 'head-revision', description: 'the head commit of the change (must be checked out in the source workspace)', required: true },
    { name: 'sarif', description: 'SARIF 2.1.0 files other linters wrote, comma-separated, relative to the source workspace; merged in', default: '' },
  ],
  results: [
    { name: 'TEST_OUTPUT', description: 'verdict in the Konflux TEST_OUTPUT convention' },
    { name: 'errors', description: 'number of error-level findings' },
    { name: 'warnings', description: 'number of warning-level findings' },
    { name: 'notes', description: 'number of note-level findings' },
  ],
  run,
};
