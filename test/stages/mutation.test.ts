// The mutation stage on tiny real repositories (git, node:test, Stryker's command runner): weak tests let mutants
// survive, strong tests kill them all, fuzz crashes leave replayable reproducers, and bad input writes nothing.
// Projects stay at one small source file so that Stryker has a handful of mutants.
import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { parsePolicy } from '../../src/policy/index.ts';
import { lineRanges, literalGlob, mutationScore, parseMutationReport } from '../../src/stages/mutation/stryker.ts';
import { commit, filesUnder, git, initRepo, requireTool, runTaskInProcess } from './helpers.ts';

const NODE = JSON.stringify(process.execPath);
const TEST_COMMAND = `${NODE} --test 'test/*.test.mjs'`;

/** Five mutants: the body emptied, the condition to true and to false, > to >= and to <=. */
const POSITIVE = 'export function isPositive(x) {\n  return x > 0;\n}\n';
const WEAK_TESTS = "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { isPositive } from '../src/num.mjs';\n\ntest('positive', () => {\n  assert.equal(isPositive(5), true);\n});\n";
const STRONG_TESTS = WEAK_TESTS.replace('assert.equal(isPositive(5), true);', 'assert.equal(isPositive(1), true);\n  assert.equal(isPositive(0), false);\n  assert.equal(isPositive(-1), false);');
/**
 * TypeScript (run by node's type stripping, as Stryker's instrumented copy must be too). Already in the base, weakly
 * tested: its survivors must not count against a change that only adds lines below it.
 */
const CLAMP_TS = 'export function clamp(x: number, lo: number, hi: number): number {\n  if (x < lo) return lo;\n  if (x > hi) return hi;\n  return x;\n}\n';
const POSITIVE_TS = 'export function isPositive(x: number): boolean {\n  return x > 0;\n}\n';
const CLAMP_TESTS = "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { clamp } from '../src/num.ts';\n\ntest('clamp', () => {\n  assert.equal(clamp(5, 0, 10), 5);\n});\n";

interface MutationReport {
  passed: boolean;
  reasons: string[];
  mutation: { ran: boolean; score?: number | null; mutate?: string[]; survived?: { file: string; line: number; column: number; mutator: string; replacement: string; status: string }[]; why?: string };
  fuzz: { target: string; status: string; runs: number; reproducer?: string; error?: string }[];
}

interface StageRunResult {
  code: number;
  stderr: string;
  results: Record<string, string>;
  report: MutationReport | undefined;
  reportDir: string;
}

describe('stage mutation (vouch task mutation)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-mutation-');
  let n = 0;

  before(() => {
    requireTool('git');
  });

  function project(name: string, policy: string, files: Record<string, string> = {}): { repo: string; base: string } {
    const repo = initRepo(join(tmp(), name));
    const base = commit(repo, { 'package.json': '{"name":"demo","type":"module","private":true}\n', '.gitignore': '.vouch/reports/\n', '.vouch/policy.yaml': policy, ...files }, 'initial');
    return { repo, base };
  }

  async function runMutation(repo: string, base: string, head: string, extra: string[] = []): Promise<StageRunResult> {
    const resultsDir = join(tmp(), `results-${String(++n)}`);
    mkdirSync(resultsDir);
    const names = ['MUTATION_SCORE', 'SURVIVED', 'FUZZ_CRASHES', 'TEST_OUTPUT'];
    const args = ['--source', repo, '--base-revision', base, '--head-revision', head, ...extra, ...names.flatMap((r) => ['--result', `${r}=${join(resultsDir, r)}`])];
    const r = await runTaskInProcess('mutation', args);
    const results: Record<string, string> = {};
    for (const f of readdirSync(resultsDir)) results[f] = readFileSync(join(resultsDir, f), 'utf8');
    const reportDir = join(repo, '.vouch/reports/mutation');
    const report = existsSync(join(reportDir, 'report.json')) ? (JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as MutationReport) : undefined;
    return { code: r.code, stderr: r.stderr, results, report, reportDir };
  }

  /** Everything git sees in the workspace besides committed files: only the stage's report may be there. */
  function strayFiles(repo: string): string[] {
    return git(repo, ['status', '--porcelain', '--ignored', '--untracked-files=all'])
      .split('\n')
      .filter((l) => l !== '' && !l.slice(3).startsWith('.vouch/reports/mutation/'));
  }

  it('fails a surviving mutant under a 100% threshold, naming file, line, mutator and replacement; writes nothing outside its report', async () => {
    // a repository's own Stryker configuration is code from the change's repository: it must not be loaded
    const { repo, base } = project('weak', `version: 1\ntest:\n  command: ${JSON.stringify(TEST_COMMAND)}\nmutation:\n  threshold: 100\n`, { 'stryker.config.mjs': "import { writeFileSync } from 'node:fs';\nwriteFileSync('config-was-loaded', '');\nexport default { mutate: [] };\n" });
    const head = commit(repo, { 'src/num.mjs': POSITIVE, 'test/num.test.mjs': WEAK_TESTS }, 'agent: isPositive with a weak test');
    const r = await runMutation(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    const survived = r.report?.mutation.survived ?? [];
    expect(survived.length).to.be.greaterThan(0);
    // x > 0 -> x >= 0 survives a test that only tries 5
    expect(survived).to.deep.include({ file: 'src/num.mjs', line: 2, column: 10, mutator: 'EqualityOperator', replacement: 'x >= 0', status: 'Survived' });
    expect(r.results['SURVIVED']).to.equal(String(survived.length));
    expect(Number(r.results['MUTATION_SCORE'])).to.be.below(100);
    expect(r.report?.mutation.mutate).to.deep.equal(['src/num.mjs']);
    const out = JSON.parse(r.results['TEST_OUTPUT'] ?? '') as { result: string; failures: number; note: string };
    expect(out).to.include({ result: 'FAILURE', failures: 1 });
    expect(out.note).to.include('below the threshold 100%').and.include('src/num.mjs:2:10 EqualityOperator');
    // Stryker's own report is kept; its sandbox, temp files and config are gone
    expect(parseMutationReport(readFileSync(join(r.reportDir, 'mutation-report.json'), 'utf8')).length).to.equal(5);
    expect(strayFiles(repo)).to.deep.equal([]);
  });

  it('passes strong tests of a TypeScript file, and with scope touched-lines mutates only the lines the change added', async () => {
    const policy = `version: 1\ntest:\n  command: ${JSON.stringify(TEST_COMMAND)}\nmutation:\n  threshold: 100\n  scope: touched-lines\n`;
    const { repo, base } = project('strong', policy, { 'src/num.ts': CLAMP_TS, 'test/clamp.test.mjs': CLAMP_TESTS });
    const head = commit(repo, { 'src/num.ts': CLAMP_TS + POSITIVE_TS, 'test/num.test.mjs': STRONG_TESTS.replace('../src/num.mjs', '../src/num.ts') }, 'agent: isPositive, well tested');
    const r = await runMutation(repo, base, head);
    expect(r.code, JSON.stringify(r.report?.reasons) + r.stderr).to.equal(0);
    // clamp (lines 1-5) has survivors under its weak test, but the change only added lines 6-8
    expect(r.report?.mutation.mutate).to.deep.equal(['src/num.ts:6-8']);
    expect(r.report?.mutation.survived).to.deep.equal([]);
    expect(r.results['MUTATION_SCORE']).to.equal('100.00');
    expect(r.results['SURVIVED']).to.equal('0');
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'SUCCESS', successes: 1, failures: 0, warnings: 0 });
  });

  it('fails a crashing fuzz target with a saved reproducer that replays the crash; a sound target passes', async () => {
    const parser = [
      '// a length-prefixed record: the first byte is the payload length',
      'export function parseRecord(data) {',
      '  if (data.length === 0) return;',
      '  const len = data[0];',
      "  if (len > data.length - 1) throw new RangeError('truncated record');",
      '}',
      'export function safeParse(data) {',
      '  try { parseRecord(data); } catch (err) { if (!(err instanceof RangeError)) throw err; }',
      '}',
      'export function shortName(s) {',
      "  if (s.length > 3) throw new Error('name too long');",
      '}',
      'export function roundTrip(v) {',
      '  return JSON.stringify(JSON.parse(JSON.stringify(v))) === JSON.stringify(v);',
      '}',
      '',
    ].join('\n');
    const policy = 'version: 1\nmutation:\n  enabled: false\nfuzz:\n  runs: 300\n  timeout-seconds: 20\n  targets:\n    - name: parse-record\n      module: src/record.mjs\n      function: parseRecord\n    - name: safe-parse\n      module: src/record.mjs\n      function: safeParse\n    - name: short-name\n      module: src/record.mjs\n      function: shortName\n      input: string\n    - name: round-trip\n      module: src/record.mjs\n      function: roundTrip\n      input: json\n';
    const { repo, base } = project('fuzz', policy);
    const head = commit(repo, { 'src/record.mjs': parser }, 'agent: record parser');
    const r = await runMutation(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.results['FUZZ_CRASHES']).to.equal('2');
    expect(r.results['MUTATION_SCORE']).to.equal('');
    const crashed = r.report?.fuzz.find((f) => f.target === 'parse-record');
    expect(crashed).to.include({ status: 'crashed', reproducer: 'fuzz/parse-record.reproducer.json' });
    expect(r.report?.fuzz.find((f) => f.target === 'safe-parse')).to.include({ status: 'passed', runs: 300 });
    expect(r.report?.reasons.join('\n')).to.include('fuzz target parse-record (src/record.mjs parseRecord) crashed: RangeError: truncated record');
    const reproducer = JSON.parse(readFileSync(join(r.reportDir, 'fuzz/parse-record.reproducer.json'), 'utf8')) as { seed: number; path: string; counterexample: string; inputFile: string; input: string };
    expect(reproducer.input).to.equal('bytes');
    expect(reproducer.seed).to.equal(parseInt(head.slice(0, 8), 16) | 0);
    expect(reproducer.path).to.be.a('string').and.not.equal('');
    // the saved input (raw bytes beside the JSON) crashes the function again
    const raw = readFileSync(join(r.reportDir, 'fuzz', reproducer.inputFile));
    expect(raw.toString('base64')).to.equal(reproducer.counterexample);
    const mod = (await import(pathToFileURL(join(repo, 'src/record.mjs')).href)) as { parseRecord: (d: Buffer) => void };
    expect(() => {
      mod.parseRecord(raw);
    }).to.throw(RangeError, 'truncated record');
    // a string counterexample is shrunk to the shortest crashing length and saved as UTF-8
    const short = JSON.parse(readFileSync(join(r.reportDir, 'fuzz/short-name.reproducer.json'), 'utf8')) as { counterexample: string; inputFile: string; error: string };
    expect(short.counterexample).to.have.length(4);
    expect(readFileSync(join(r.reportDir, 'fuzz', short.inputFile), 'utf8')).to.equal(short.counterexample);
    expect(short.error).to.match(/^Error: name too long/);
    expect(r.report?.fuzz.find((f) => f.target === 'round-trip')).to.include({ status: 'passed', runs: 300 });
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'FAILURE', successes: 2, failures: 2 });
    expect(strayFiles(repo)).to.deep.equal([]);
  });

  it('a fuzz target that never returns is stopped at its time bound and counted as a crash', async () => {
    const policy = 'version: 1\nmutation:\n  enabled: false\nfuzz:\n  timeout-seconds: 1\n  targets:\n    - name: spin\n      module: src/spin.mjs\n';
    const { repo, base } = project('hang', policy);
    const head = commit(repo, { 'src/spin.mjs': 'export function fuzz(data) {\n  while (data.length >= 0) {}\n}\n' }, 'agent: a loop');
    const r = await runMutation(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.results['FUZZ_CRASHES']).to.equal('1');
    expect(r.report?.fuzz[0]).to.include({ target: 'spin', status: 'crashed', error: 'did not finish within 3 s (an input may make it loop forever)' });
    const reproducer = JSON.parse(readFileSync(join(r.reportDir, 'fuzz/spin.reproducer.json'), 'utf8')) as Record<string, unknown>;
    expect(reproducer).to.include({ seed: parseInt(head.slice(0, 8), 16) | 0, path: null });
    expect(reproducer).to.not.have.property('counterexample');
    expect(strayFiles(repo)).to.deep.equal([]);
  });

  it('a change with no changed files is SKIPPED; one that touches no source file runs only the fuzz targets', async () => {
    const { repo, base } = project('nothing', `version: 1\ntest:\n  command: ${JSON.stringify(TEST_COMMAND)}\n`);
    const same = await runMutation(repo, base, base);
    expect(same.code, same.stderr).to.equal(0);
    expect(JSON.parse(same.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'SKIPPED', successes: 0, failures: 0 });
    expect(same.results['MUTATION_SCORE']).to.equal('');
    const docs = commit(repo, { 'README.md': '# demo\n', 'test/readme.test.mjs': "import { test } from 'node:test';\ntest('x', () => {});\n" }, 'docs and a test');
    const r = await runMutation(repo, base, docs);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.report?.mutation).to.deep.equal({ ran: false, why: 'no changed source file to mutate' });
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'SKIPPED' });
  });

  it('a test command that fails on the unmutated head is a clear error, and nothing is written', async () => {
    const { repo, base } = project('broken', `version: 1\ntest:\n  command: ${JSON.stringify(TEST_COMMAND)}\n`);
    const head = commit(repo, { 'src/num.mjs': POSITIVE, 'test/num.test.mjs': WEAK_TESTS.replace('isPositive(5), true', 'isPositive(5), false') }, 'a failing test');
    const r = await runMutation(repo, base, head);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.include('the test command fails on the unmutated head').and.include('[STAGE_TOOL_FAILED]');
    expect(r.results).to.deep.equal({});
    expect(existsSync(r.reportDir)).to.equal(false);
    expect(strayFiles(repo)).to.deep.equal([]);
    // a source file Stryker cannot parse is a tool failure too, not a passing score
    const unparsable = commit(repo, { 'test/num.test.mjs': WEAK_TESTS, 'src/bad.mjs': 'export function (\n' }, 'a syntax error');
    const r2 = await runMutation(repo, base, unparsable);
    expect(r2.code, r2.stderr).to.equal(3);
    expect(r2.stderr).to.match(/Stryker failed \(exit \d+\): .*src\/bad\.mjs/).and.not.include('initial test run');
    expect(existsSync(r2.reportDir)).to.equal(false);
    expect(strayFiles(repo)).to.deep.equal([]);
  });

  it('a malformed base policy, a missing test command and a fuzz target without its function are clear errors', async () => {
    const bad = project('bad-policy', 'version: 1\nmutation:\n  threshold: 150\nfuzz:\n  targets:\n    - name: x\n      module: ../outside.mjs\n');
    const head = commit(bad.repo, { 'src/num.mjs': POSITIVE }, 'change');
    const r = await runMutation(bad.repo, bad.base, head);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include('mutation.threshold: must be at most 100').and.include('fuzz.targets[0].module: must be a relative path inside the repository').and.include('[POLICY_INVALID]');
    expect(existsSync(r.reportDir)).to.equal(false);

    const none = project('no-command', 'version: 1\n');
    const r2 = await runMutation(none.repo, none.base, commit(none.repo, { 'src/num.mjs': POSITIVE }, 'change'));
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.include('no test command for mutation testing').and.include('[STAGE_USAGE]');

    const missing = project('no-function', 'version: 1\nmutation:\n  enabled: false\nfuzz:\n  targets:\n    - name: gone\n      module: src/num.mjs\n      function: parse\n');
    const r3 = await runMutation(missing.repo, missing.base, commit(missing.repo, { 'src/num.mjs': POSITIVE }, 'change'));
    expect(r3.code).to.equal(2);
    expect(r3.stderr).to.include('fuzz target gone (src/num.mjs): the module has no exported function "parse"').and.include('[STAGE_INPUT_INVALID]');
    expect(r3.results).to.deep.equal({});
    expect(strayFiles(missing.repo)).to.deep.equal([]);
  });

  it('the mutation and fuzz policy sections: defaults and checks', () => {
    const p = parsePolicy('version: 1\n', 'p.yaml');
    expect(p.mutation).to.deep.include({ enabled: true, command: '', threshold: 80, scope: 'files', concurrency: 2 });
    expect(p.fuzz).to.deep.equal({ targets: [], runs: 10000, 'timeout-seconds': 60 });
    expect(() => parsePolicy('version: 1\nmutation:\n  scope: everything\n', 'p.yaml')).to.throw(/mutation\.scope: must be one of files, touched-lines/);
    expect(() => parsePolicy('version: 1\nfuzz:\n  targets:\n    - module: a.mjs\n', 'p.yaml')).to.throw(/fuzz\.targets\[0\]\.name: is required/);
    expect(() => parsePolicy('version: 1\nfuzz:\n  targets:\n    - {name: a, module: a.mjs, function: "x-y"}\n', 'p.yaml')).to.throw(/function: must be a JavaScript identifier/);
    expect(() => parsePolicy('version: 1\nfuzz:\n  targets:\n    - {name: a, module: a.mjs, input: xml}\n', 'p.yaml')).to.throw(/input: must be one of bytes, string, json/);
  });

  it('Stryker helpers: line ranges, literal globs, the score, and a report that is not one', () => {
    expect(lineRanges([8, 6, 7, 10, 12, 11, 3])).to.deep.equal(['3-3', '6-8', '10-12']);
    expect(lineRanges([])).to.deep.equal([]);
    expect(literalGlob('src/[id]/a*(b).ts')).to.equal('src/\\[id\\]/a\\*\\(b\\).ts');
    const zero = { Killed: 0, Survived: 0, NoCoverage: 0, Timeout: 0, CompileError: 0, RuntimeError: 0, Ignored: 0, Pending: 0 };
    expect(mutationScore(zero)).to.equal(undefined);
    expect(mutationScore({ ...zero, Killed: 2, Timeout: 1, Survived: 1, NoCoverage: 2, CompileError: 5 })).to.equal(50);
    expect(mutationScore({ ...zero, Killed: 2, Survived: 1 })).to.equal(66.66);
    expect(() => parseMutationReport('{"files": {"a.js": {"mutants": [{"status": "Mutated"}]}}}')).to.throw(/lacks a known status/);
    expect(() => parseMutationReport('not json')).to.throw(/not JSON/);
  });
});

describe('tasks/mutation.yaml under vouch run (sandboxed, no network)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-mutation-task-');
  // the sandbox hides /tmp: the upstream repository lives where steps can read it
  let upstreamRoot = '';
  let upstream = '';

  before(() => {
    requireTool('git');
    requireTool('bwrap');
    upstreamRoot = mkdtempSync('/var/tmp/vouch-mutation-task-');
    upstream = initRepo(join(upstreamRoot, 'upstream'));
    const policy = `version: 1\ntest:\n  command: ${JSON.stringify(TEST_COMMAND)}\nmutation:\n  threshold: 100\nfuzz:\n  runs: 100\n  targets:\n    - name: sign\n      module: fuzz/sign.mjs\n`;
    commit(upstream, { 'package.json': '{"name":"demo","type":"module","private":true}\n', '.vouch/policy.yaml': policy }, 'initial');
    git(upstream, ['tag', 'base']);
    const fuzz = "import { isPositive } from '../src/num.mjs';\nexport function fuzz(data) {\n  if (typeof isPositive(data.length - 1) !== 'boolean') throw new Error('not a boolean');\n}\n";
    commit(upstream, { 'src/num.mjs': POSITIVE, 'fuzz/sign.mjs': fuzz, 'test/num.test.mjs': WEAK_TESTS }, 'agent: weakly tested');
    git(upstream, ['branch', 'weak']);
  });
  after(() => {
    if (upstreamRoot) rmSync(upstreamRoot, { recursive: true, force: true });
  });

  it('clone then mutation: Stryker and the fuzz target run inside the sandbox, and a surviving mutant fails the TaskRun', async () => {
    const runDir = join(tmp(), 'weak');
    const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/verify-mutation.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '-p', `url=${upstream}`, '-p', 'revision=weak', '-p', 'base-revision=base', '--run-dir', runDir, '--json'], { timeoutMs: 100_000 });
    expect(r.code).to.equal(1);
    const taskRuns = readdirSync(join(runDir, 'taskruns')).map((f) => JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { conditions: { reason: string }[]; results?: { name: string; value: string }[] } });
    const mutation = taskRuns.find((t) => t.metadata.labels['tekton.dev/pipelineTask'] === 'mutation');
    expect(mutation?.status.conditions[0]?.reason).to.equal('Failed');
    const result = (name: string): string | undefined => mutation?.status.results?.find((x) => x.name === name)?.value;
    // the results prove Stryker finished: a score and survivors, not a tool failure
    expect(Number(result('SURVIVED'))).to.be.greaterThan(0);
    expect(Number(result('MUTATION_SCORE'))).to.be.within(0, 99.99);
    expect(result('FUZZ_CRASHES')).to.equal('0');
    expect(JSON.parse(result('TEST_OUTPUT') ?? '{}')).to.include({ result: 'FAILURE', successes: 1, failures: 1 });
    const ws = join(runDir, 'workspaces/source');
    expect(readFileSync(join(runDir, 'logs/mutation/mutation.log'), 'utf8')).to.include('below the threshold 100%');
    expect(filesUnder(join(ws, '.vouch/reports/mutation')).map((f) => f.slice(ws.length + 1)).sort()).to.deep.equal(['.vouch/reports/mutation/mutation-report.json', '.vouch/reports/mutation/report.json', '.vouch/reports/mutation/stryker.log']);
    expect(existsSync(join(ws, '.vouch/tmp'))).to.equal(false);
    const report = JSON.parse(readFileSync(join(ws, '.vouch/reports/mutation/report.json'), 'utf8')) as MutationReport;
    expect(report.fuzz[0]).to.include({ target: 'sign', status: 'passed', runs: 100 });
    // the fuzz harness is not mutated (default mutation.exclude)
    expect(report.mutation.mutate).to.deep.equal(['src/num.mjs']);
  });
});
