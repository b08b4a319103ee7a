import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { parsePolicy } from '../../src/policy/index.ts';
import { declarationsOf } from '../../src/stages/test/declarations.ts';
import { parseJUnit, parseTap } from '../../src/stages/test/reports.ts';
import { commit, git, initRepo, requireTool, runTaskInProcess } from './helpers.ts';

const NODE = JSON.stringify(process.execPath);
/** node:test with its JUnit reporter writing junit.xml */
const JUNIT_COMMAND = `${NODE} --test --test-reporter=junit --test-reporter-destination=junit.xml 'test/*.test.mjs'`;
const TAP_COMMAND = `${NODE} --test --test-reporter=tap 'test/*.test.mjs'`;

const MATH_TESTS = `import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { add, sub } from '../src/math.mjs';

describe('math', () => {
  it('adds', () => {
    assert.equal(add(1, 2), 3);
  });
  it('subtracts', () => {
    assert.equal(sub(3, 2), 1);
  });
});
`;
const MATH = 'export const add = (a, b) => a + b;\nexport const sub = (a, b) => a - b;\n';
const STRING_TESTS = "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\n\ntest('upper', () => {\n  assert.equal('a'.toUpperCase(), 'A');\n});\n";

interface Predicate {
  result: string;
  configuration: { name: string; digest: Record<string, string>; content?: string }[];
  passedTests: string[];
  warnedTests: string[];
  failedTests: string[];
}

interface TestRun {
  code: number;
  stdout: string;
  stderr: string;
  results: Record<string, string>;
  reportDir: string;
  report: { passed: boolean; reasons: string[]; deletedTests: { name: string; file: string }[]; skippedTests: { name: string }[]; policy: string } | undefined;
  predicate: Predicate | undefined;
}

describe('stage test (vouch task test)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-test-stage-');
  let n = 0;

  before(() => {
    requireTool('git');
  });

  async function runTest(repo: string, base: string, head: string, extra: string[] = [], viaCli = false): Promise<TestRun> {
    const resultsDir = join(tmp(), `results-${String(++n)}`);
    mkdirSync(resultsDir);
    const args = ['--source', repo, '--base-revision', base, '--head-revision', head, ...extra, '--result', `TEST_OUTPUT=${join(resultsDir, 'TEST_OUTPUT')}`];
    const r = viaCli ? await runVouch(['task', 'test', ...args]) : await runTaskInProcess('test', args);
    const results: Record<string, string> = {};
    for (const name of readdirSync(resultsDir)) results[name] = readFileSync(join(resultsDir, name), 'utf8');
    const reportDir = join(repo, '.vouch/reports/test');
    const read = (f: string): unknown => (existsSync(join(reportDir, f)) ? JSON.parse(readFileSync(join(reportDir, f), 'utf8')) : undefined);
    return { code: r.code ?? -1, stdout: r.stdout, stderr: r.stderr, results, reportDir, report: read('report.json') as TestRun['report'], predicate: read('test-result.json') as Predicate | undefined };
  }

  /** A tiny package with node:test tests; returns the repo and its base commit. */
  function project(name: string, policy?: string): { repo: string; base: string } {
    const repo = initRepo(join(tmp(), name));
    const files: Record<string, string> = { 'package.json': '{"name":"demo","type":"module","private":true}\n', '.gitignore': 'junit.xml\n.vouch/reports/\n', 'src/math.mjs': MATH, 'test/math.test.mjs': MATH_TESTS, 'test/string.test.mjs': STRING_TESTS };
    if (policy !== undefined) files['.vouch/policy.yaml'] = policy;
    return { repo, base: commit(repo, files, 'initial') };
  }

  it('passes a change whose tests all pass, with a PASSED test-result predicate and TEST_OUTPUT SUCCESS', async () => {
    const { repo, base } = project('passing');
    const head = commit(repo, { 'src/math.mjs': MATH + 'export const mul = (a, b) => a * b;\n', 'test/math.test.mjs': MATH_TESTS.replace("describe('math', () => {", "describe('math', () => {\n  it('multiplies', async () => {\n    const { mul } = await import('../src/math.mjs');\n    assert.equal(mul(2, 3), 6);\n  });") }, 'add mul');
    const r = await runTest(repo, base, head, ['--command', JUNIT_COMMAND, '--junit', 'junit.xml'], true);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.predicate?.result).to.equal('PASSED');
    expect(r.predicate?.passedTests).to.have.members(['math > adds', 'math > subtracts', 'math > multiplies', 'upper']);
    expect(r.predicate?.failedTests).to.deep.equal([]);
    expect(r.predicate?.configuration[0]?.name).to.equal('command');
    expect(Buffer.from(r.predicate?.configuration[0]?.content ?? '', 'base64').toString('utf8')).to.equal(JUNIT_COMMAND);
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'SUCCESS', namespace: 'vouch.test', successes: 4, failures: 0, warnings: 0 });
  });

  it('fails on a failing test and names it in the report, the predicate and TEST_OUTPUT', async () => {
    const { repo, base } = project('failing');
    const head = commit(repo, { 'src/math.mjs': 'export const add = (a, b) => a + b + 1;\nexport const sub = (a, b) => a - b;\n' }, 'break add');
    const r = await runTest(repo, base, head, ['--command', JUNIT_COMMAND, '--junit', 'junit.xml']);
    expect(r.code).to.equal(1);
    expect(r.report?.passed).to.equal(false);
    expect(r.report?.reasons.some((x) => x.startsWith('test failed: math > adds'))).to.equal(true, JSON.stringify(r.report?.reasons));
    expect(r.predicate?.result).to.equal('FAILED');
    expect(r.predicate?.failedTests).to.deep.equal(['math > adds']);
    expect(r.predicate?.passedTests).to.have.members(['math > subtracts', 'upper']);
    const out = JSON.parse(r.results['TEST_OUTPUT'] ?? '') as { result: string; failures: number; note: string };
    expect(out).to.include({ result: 'FAILURE', failures: 1 });
    expect(out.note).to.include('math > adds');
  });

  it('fails when the change deletes a test, and when it deletes a test file, naming each test', async () => {
    const { repo, base } = project('deleted');
    const withoutSub = MATH_TESTS.replace(/ {2}it\('subtracts'[\s\S]*?\n {2}\}\);\n/, '');
    expect(withoutSub).to.not.include('subtracts');
    const head = commit(repo, { 'test/math.test.mjs': withoutSub }, 'drop a test');
    git(repo, ['rm', '--quiet', 'test/string.test.mjs']);
    const head2 = commit(repo, {}, 'drop a test file');
    const r = await runTest(repo, base, head2, ['--command', JUNIT_COMMAND, '--junit', 'junit.xml']);
    expect(r.code, r.stderr).to.equal(1);
    // the remaining tests pass: only the deletions fail the gate
    expect(r.predicate?.failedTests).to.deep.equal([]);
    expect(r.predicate?.result).to.equal('FAILED');
    expect(r.report?.deletedTests).to.deep.equal([
      { file: 'test/math.test.mjs', name: 'math > subtracts' },
      { file: 'test/string.test.mjs', name: 'upper' },
    ]);
    expect(r.report?.reasons).to.include.members(['test deleted by the change: math > subtracts (test/math.test.mjs)', 'test deleted by the change: upper (test/string.test.mjs)']);
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'FAILURE', failures: 2 });
    expect(head).to.not.equal(head2);
  });

  it('fails when the change comments a test out or focuses another with .only', async () => {
    const { repo, base } = project('commented');
    const head = commit(repo, { 'test/math.test.mjs': MATH_TESTS.replace("  it('subtracts'", "  // it('subtracts'").replace("    assert.equal(sub(3, 2), 1);\n  });", "    // assert.equal(sub(3, 2), 1);\n  // });").replace("it('adds'", "it.only('adds'") }, 'comment out a test');
    const r = await runTest(repo, base, head, ['--command', TAP_COMMAND]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.report?.reasons).to.include.members(['test deleted by the change: math > subtracts (test/math.test.mjs)', 'test focused with .only by the change (other tests may not run): math > adds (test/math.test.mjs)']);
  });

  it('allows deleted tests when the base policy says so (the head cannot loosen it)', async () => {
    const { repo, base } = project('deleted-allowed', `version: 1\ntest:\n  command: ${JSON.stringify(JUNIT_COMMAND)}\n  reports: [junit.xml]\n  allow-deleted-tests: true\n`);
    git(repo, ['rm', '--quiet', 'test/string.test.mjs']);
    const head = commit(repo, {}, 'drop a test file');
    const r = await runTest(repo, base, head);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.report?.deletedTests).to.deep.equal([{ file: 'test/string.test.mjs', name: 'upper' }]);
    expect(r.report?.policy).to.match(/:\.vouch\/policy\.yaml$/);
    expect(r.predicate?.configuration.map((c) => c.name)).to.deep.equal(['command', '.vouch/policy.yaml']);

    // the same deletion under a head that tries to allow it, with a strict base: fails
    const strict = project('deleted-strict', `version: 1\ntest:\n  command: ${JSON.stringify(JUNIT_COMMAND)}\n  reports: [junit.xml]\n`);
    commit(strict.repo, { '.vouch/policy.yaml': `version: 1\ntest:\n  command: ${JSON.stringify(JUNIT_COMMAND)}\n  reports: [junit.xml]\n  allow-deleted-tests: true\n` }, 'loosen');
    git(strict.repo, ['rm', '--quiet', 'test/string.test.mjs']);
    const strictHead = commit(strict.repo, {}, 'drop a test file');
    const s = await runTest(strict.repo, strict.base, strictHead);
    expect(s.code).to.equal(1);
    expect(s.report?.reasons).to.include('test deleted by the change: upper (test/string.test.mjs)');
  });

  it('fails when the change adds .skip (or xit / { skip: true }) to a test', async () => {
    const { repo, base } = project('skipped');
    const head = commit(repo, { 'test/math.test.mjs': MATH_TESTS.replace("it('subtracts'", "it.skip('subtracts'"), 'test/string.test.mjs': STRING_TESTS.replace("test('upper', ", "test('upper', { skip: true }, ") }, 'skip tests');
    const r = await runTest(repo, base, head, ['--command', TAP_COMMAND]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.report?.skippedTests.map((s) => s.name)).to.deep.equal(['math > subtracts', 'upper']);
    expect(r.report?.reasons).to.include('test skipped by the change: math > subtracts (test/math.test.mjs)');
    // read from node --test's TAP on stdout: the skipped tests are warned, not passed
    expect(r.predicate?.warnedTests).to.have.members(['math > subtracts', 'upper']);
    expect(r.predicate?.passedTests).to.deep.equal(['math > adds']);
    expect(r.predicate?.result).to.equal('FAILED');
  });

  it('reads TAP from the command the base policy configures', async () => {
    const { repo, base } = project('policy-tap', `version: 1\ntest:\n  command: ${JSON.stringify(TAP_COMMAND)}\n`);
    const head = commit(repo, { 'README.md': '# demo\n' }, 'docs');
    const r = await runTest(repo, base, head);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.predicate?.passedTests).to.have.members(['math > adds', 'math > subtracts', 'upper']);
  });

  it('malformed JUnit: a clear error and nothing written', async () => {
    const { repo, base } = project('malformed');
    const head = commit(repo, { 'README.md': '# demo\n' }, 'docs');
    const r = await runTest(repo, base, head, ['--command', `printf '<testsuites><testsuite name="x"><testcase name="a">' > junit.xml`, '--junit', 'junit.xml']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/JUnit report junit\.xml is not well-formed XML: .*line \d+/);
    expect(r.stderr).to.include('[STAGE_INPUT_INVALID]');
    expect(existsSync(r.reportDir)).to.equal(false);
    expect(r.results).to.deep.equal({});
  });

  it('a missing report file: a clear error and nothing written (a stale one from an earlier run does not count)', async () => {
    const { repo, base } = project('missing');
    const head = commit(repo, { 'README.md': '# demo\n' }, 'docs');
    // an earlier run left a passing report; this command writes none
    const first = await runTest(repo, base, head, ['--command', JUNIT_COMMAND, '--junit', 'junit.xml']);
    expect(first.code, first.stderr).to.equal(0);
    const r = await runTest(repo, base, head, ['--command', 'true', '--junit', 'junit.xml']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/test report junit\.xml cannot be read after the test command \(exit 0\)/);
    expect(r.results).to.deep.equal({});
    // the earlier report directory is untouched
    expect(r.report?.passed).to.equal(true);
  });

  it('refuses stdout that is not TAP, a missing command, and a workspace not at the head revision', async () => {
    const { repo, base } = project('bad-input');
    const head = commit(repo, { 'README.md': '# demo\n' }, 'docs');
    const notTap = await runTest(repo, base, head, ['--command', `${NODE} --test --test-reporter=spec 'test/*.test.mjs'`]);
    expect(notTap.code).to.equal(2);
    expect(notTap.stderr).to.include('is not TAP output');
    const noCommand = await runTest(repo, base, head);
    expect(noCommand.code).to.equal(2);
    expect(noCommand.stderr).to.include('no test command');
    const wrongHead = await runTest(repo, base, base, ['--command', 'true']);
    expect(wrongHead.code).to.equal(2);
    expect(wrongHead.stderr).to.include('not the head revision');
    expect(existsSync(join(repo, '.vouch/reports/test'))).to.equal(false);
  });

  it('stops a command that outlives test.timeout-seconds (with what it started): a clear error and nothing written', async () => {
    const { repo, base } = project('timeout', 'version: 1\ntest:\n  timeout-seconds: 1\n');
    const head = commit(repo, { 'README.md': '# demo\n' }, 'docs');
    const pidFile = join(repo, 'sleeper.pid');
    const r = await runTest(repo, base, head, ['--command', `sleep 120 & echo $! > sleeper.pid; wait`]);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.include('did not finish within 1 s (test.timeout-seconds)');
    expect(existsSync(r.reportDir)).to.equal(false);
    expect(r.results).to.deep.equal({});
    const sleeper = Number(readFileSync(pidFile, 'utf8').trim());
    // the background child was killed with its process group (gone, or a zombie waiting for its reaper)
    const state = existsSync(`/proc/${String(sleeper)}/stat`) ? readFileSync(`/proc/${String(sleeper)}/stat`, 'utf8') : 'gone';
    expect(state === 'gone' || / Z /.test(state), state).to.equal(true);
  });

  it('fails when the command fails without any failing test (e.g. a crash before the tests)', async () => {
    const { repo, base } = project('crash');
    const head = commit(repo, { 'README.md': '# demo\n' }, 'docs');
    const r = await runTest(repo, base, head, ['--command', `${TAP_COMMAND}; exit 3`]);
    expect(r.code).to.equal(1);
    expect(r.report?.reasons).to.deep.equal(['the test command exited 3 with no failing test in its report']);
  });
});

describe('tasks/test.yaml under vouch run (sandboxed, no network)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-test-task-');
  // the sandbox hides /tmp: the upstream repository lives where steps can read it
  let upstreamRoot = '';
  let upstream = '';

  before(() => {
    requireTool('git');
    requireTool('bwrap');
    upstreamRoot = mkdtempSync('/var/tmp/vouch-test-task-');
    upstream = initRepo(join(upstreamRoot, 'upstream'));
    commit(upstream, { 'package.json': '{"name":"demo","type":"module","private":true}\n', 'src/math.mjs': MATH, 'test/math.test.mjs': MATH_TESTS, '.vouch/policy.yaml': `version: 1\ntest:\n  command: ${JSON.stringify(TAP_COMMAND)}\n` }, 'initial');
    git(upstream, ['tag', 'base']);
    commit(upstream, { 'README.md': '# demo\n' }, 'docs');
    git(upstream, ['branch', 'good']);
    git(upstream, ['checkout', '--quiet', 'base']);
    commit(upstream, { 'test/math.test.mjs': MATH_TESTS.replace("it('subtracts'", "it.skip('subtracts'") }, 'agent: skip a test');
    git(upstream, ['branch', 'skips']);
    git(upstream, ['checkout', '--quiet', 'base']);
  });
  after(() => {
    if (upstreamRoot) rmSync(upstreamRoot, { recursive: true, force: true });
  });

  async function pipeline(revision: string): Promise<{ code: number | null; stderr: string; runDir: string; testOutput: { result: string; failures: number; note: string } }> {
    const runDir = join(tmp(), revision);
    const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/verify-tests.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '-p', `url=${upstream}`, '-p', `revision=${revision}`, '-p', 'base-revision=base', '--run-dir', runDir, '--json'], { timeoutMs: 100_000 });
    const taskRuns = readdirSync(join(runDir, 'taskruns')).map((f) => JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { results?: { name: string; value: string }[] } });
    const test = taskRuns.find((t) => t.metadata.labels['tekton.dev/pipelineTask'] === 'test');
    const raw = test?.status.results?.find((x) => x.name === 'TEST_OUTPUT')?.value ?? '{}';
    return { code: r.code, stderr: r.stderr, runDir, testOutput: JSON.parse(raw) as { result: string; failures: number; note: string } };
  }

  it('passes a change whose tests pass, running the base policy\'s command in the sandbox', async () => {
    const r = await pipeline('good');
    expect(r.code, r.stderr).to.equal(0);
    expect(r.testOutput).to.include({ result: 'SUCCESS', failures: 0 });
    const predicate = JSON.parse(readFileSync(join(r.runDir, 'workspaces/source/.vouch/reports/test/test-result.json'), 'utf8')) as Predicate;
    expect(predicate.passedTests).to.have.members(['math > adds', 'math > subtracts']);
  });

  it('fails the TaskRun when the change skips a test', async () => {
    const r = await pipeline('skips');
    expect(r.code).to.not.equal(0);
    expect(r.testOutput.result).to.equal('FAILURE');
    expect(r.testOutput.note).to.include('test skipped by the change: math > subtracts');
  });
});

describe('test reports and declarations', () => {
  it('the policy\'s test section refuses reports outside the workspace, unknown formats and a zero timeout', () => {
    expect(parsePolicy('version: 1\ntest:\n  command: npm test\n  reports: [out/junit.xml]\n', 'p.yaml').test).to.deep.include({ command: 'npm test', reports: ['out/junit.xml'], format: 'auto', 'allow-deleted-tests': false, 'timeout-seconds': 1800 });
    expect(() => parsePolicy('version: 1\ntest:\n  reports: [../junit.xml]\n', 'p.yaml')).to.throw(/test\.reports.*inside the workspace/);
    expect(() => parsePolicy('version: 1\ntest:\n  format: xunit\n', 'p.yaml')).to.throw(/test\.format/);
    expect(() => parsePolicy('version: 1\ntest:\n  timeout-seconds: 0\n', 'p.yaml')).to.throw(/test\.timeout-seconds/);
  });

  it('parses JUnit from other producers: nested suites, <error>, <skipped>, a <testsuite> root', () => {
    const xml = `<?xml version="1.0"?><testsuites><testsuite name="pkg"><testsuite name="Calc"><testcase name="a &amp; b"/><testcase name="c"><error message="boom&#10;more"/></testcase><testcase name="d"><skipped/></testcase></testsuite></testsuite></testsuites>`;
    expect(parseJUnit(xml, 'r.xml')).to.deep.equal([
      { name: 'pkg > Calc > a & b', status: 'passed' },
      { name: 'pkg > Calc > c', status: 'failed', message: 'boom' },
      { name: 'pkg > Calc > d', status: 'skipped' },
    ]);
    expect(parseJUnit('<testsuite name="s"><testcase name="x"><failure>bad</failure></testcase></testsuite>', 'r.xml')).to.deep.equal([{ name: 's > x', status: 'failed', message: 'bad' }]);
    expect(() => parseJUnit('<html><body/></html>', 'r.xml')).to.throw(/neither a <testsuites> nor a <testsuite> root/);
    expect(() => parseJUnit('<testsuite><testcase/></testsuite>', 'r.xml')).to.throw(/a <testcase> has no name/);
    expect(() => parseJUnit('', 'r.xml')).to.throw(/JUnit report r\.xml is not well-formed XML/);
    expect(() => parseJUnit('<testsuite name="a"/><testsuite name="b"/>', 'r.xml')).to.throw(/not well-formed XML/);
    expect(() => parseJUnit('<!DOCTYPE t [<!ENTITY a "aaaa">]><testsuite name="&a;"/>', 'r.xml')).to.throw(/has a DOCTYPE/);
  });

  it('parses plain TAP and counts TODO as skipped', () => {
    expect(parseTap('TAP version 13\n1..3\nok 1 - one\nnot ok 2 - two\n  ---\n  ok 9 - inside yaml\n  ...\nok 3 - three # TODO later\n', 'out')).to.deep.equal([
      { name: 'one', status: 'passed' },
      { name: 'two', status: 'failed' },
      { name: 'three', status: 'skipped' },
    ]);
    expect(() => parseTap('hello\n', 'out')).to.throw(/not TAP output/);
  });

  it('finds test declarations with their describe path and skip markers', () => {
    const src = "describe('A', () => {\n  it('x', () => { if (a) { b(); } });\n  xit('y', () => {});\n  describe.skip(\"B\", function () {\n    test(`z`, { skip: 'later' }, () => {});\n  });\n});\nit.todo('w');\nconst q = obj.it('not a test');\n";
    expect(declarationsOf(src)).to.deep.equal([
      { name: 'A', skipped: false, focused: false },
      { name: 'A > x', skipped: false, focused: false },
      { name: 'A > y', skipped: true, focused: false },
      { name: 'A > B', skipped: true, focused: false },
      { name: 'A > B > z', skipped: true, focused: false },
      { name: 'w', skipped: true, focused: false },
    ]);
  });

  it('ignores commented-out tests, braces in names and strings, and marks .only', () => {
    const src = "describe('S {', () => {\n  // it('gone', () => {});\n  /* test('also gone', () => {}); */\n  it.only('t', () => { const s = '}}'; });\n});\nit('after', () => {});\n";
    expect(declarationsOf(src)).to.deep.equal([
      { name: 'S {', skipped: false, focused: false },
      { name: 'S { > t', skipped: false, focused: true },
      { name: 'after', skipped: false, focused: false },
    ]);
  });
});
