import { expect } from 'chai';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, git, initRepo, requireTool, runTaskInProcess } from './helpers.ts';

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations?: { physicalLocation: { artifactLocation: { uri: string; uriBaseId?: string }; region: { startLine: number; startColumn: number } } }[];
}

interface Sarif {
  $schema: string;
  version: string;
  runs: { tool: { driver: { name: string; version?: string; rules?: { id: string }[] } }; results?: SarifResult[] }[];
}

interface Finding {
  tool: string;
  ruleId: string;
  level: string;
  path: string;
  line: number;
  touched: boolean;
  failing: boolean;
}

interface LintRun {
  code: number;
  stdout: string;
  stderr: string;
  results: Record<string, string>;
  reportDir: string;
  report: { findings: Finding[]; counts: Record<string, number>; eslint: { config: string; files: string[] }; typecheck: string; reasons: string[] } | undefined;
  sarif: Sarif | undefined;
}

/** The SARIF 2.1.0 properties consumers rely on (OASIS spec §3: version, runs, tool.driver.name, message, level). */
function checkSarif(s: Sarif): void {
  expect(s.version).to.equal('2.1.0');
  expect(s.$schema).to.match(/sarif-2\.1\.0/);
  expect(s.runs).to.be.an('array');
  for (const run of s.runs) {
    expect(run.tool.driver.name).to.be.a('string').and.not.equal('');
    for (const r of run.results ?? []) {
      expect(r.message.text).to.be.a('string').and.not.equal('');
      expect(['none', 'note', 'warning', 'error']).to.include(r.level);
      if (run.tool.driver.rules) expect(run.tool.driver.rules[r.ruleIndex]?.id).to.equal(r.ruleId);
      for (const l of r.locations ?? []) {
        expect(l.physicalLocation.artifactLocation.uri).to.be.a('string').and.not.equal('');
        expect(l.physicalLocation.region.startLine).to.be.a('number').at.least(1);
        expect(l.physicalLocation.region.startColumn).to.be.a('number').at.least(1);
      }
    }
  }
}

/** Counts by level over every run of the SARIF log (SARIF's default level is warning). */
function sarifCounts(s: Sarif): Record<string, number> {
  const counts: Record<string, number> = { error: 0, warning: 0, note: 0 };
  for (const run of s.runs) for (const r of run.results ?? []) counts[r.level] = (counts[r.level] ?? 0) + 1;
  return counts;
}

const TSCONFIG = JSON.stringify({ compilerOptions: { strict: true, noEmit: true, types: [], skipLibCheck: true, target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler' }, include: ['src'] });

describe('stage lint (vouch task lint)', function () {
  this.timeout(120_000);
  const tmp = tempDirPerSuite('vouch-lint-');
  let n = 0;

  async function lint(repo: string, base: string, head: string, extra: string[] = []): Promise<LintRun> {
    const resultsDir = join(tmp(), `results-${String(++n)}`);
    mkdirSync(resultsDir);
    const names = ['TEST_OUTPUT', 'errors', 'warnings', 'notes'];
    const args = ['--source', repo, '--base-revision', base, '--head-revision', head, ...extra, ...names.flatMap((r) => ['--result', `${r}=${join(resultsDir, r)}`])];
    const r = await runTaskInProcess('lint', args);
    const results: Record<string, string> = {};
    for (const name of readdirSync(resultsDir)) results[name] = readFileSync(join(resultsDir, name), 'utf8');
    const reportDir = join(repo, '.vouch/reports/lint');
    const read = (f: string): unknown => (existsSync(join(reportDir, f)) ? JSON.parse(readFileSync(join(reportDir, f), 'utf8')) : undefined);
    return { ...r, results, reportDir, report: read('report.json') as LintRun['report'], sarif: read('lint.sarif') as Sarif | undefined };
  }

  function testOutput(r: LintRun): Record<string, unknown> {
    return JSON.parse(r.results['TEST_OUTPUT'] ?? '{}') as Record<string, unknown>;
  }

  before(() => {
    requireTool('git');
  });

  it('fails on a lint error on a line the change added (built-in typescript-eslint default)', async () => {
    const repo = initRepo(join(tmp(), 'touched'));
    const base = commit(repo, { 'src/a.ts': 'export const a = 1;\n' }, 'initial');
    const head = commit(repo, { 'src/a.ts': 'export const a = 1;\nexport const b: any = 2;\n' }, 'add b');
    const r = await lint(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.include('src/a.ts:2:').and.include('@typescript-eslint/no-explicit-any');
    expect(testOutput(r)).to.include({ result: 'FAILURE', namespace: 'vouch.lint', failures: 1, warnings: 0 });
    expect(r.results['errors']).to.equal('1');
    expect(r.report!.eslint.config).to.match(/^built-in/);
    expect(r.report!.findings.map((f) => `${f.tool} ${f.ruleId} ${f.path}:${String(f.line)} ${String(f.touched)} ${String(f.failing)}`)).to.deep.equal(['eslint @typescript-eslint/no-explicit-any src/a.ts:2 true true']);
    checkSarif(r.sarif!);
    expect(r.sarif!.runs.map((x) => x.tool.driver.name)).to.deep.equal(['eslint']);
    expect(r.sarif!.runs[0]?.results?.[0]?.locations?.[0]?.physicalLocation.artifactLocation).to.deep.equal({ uri: 'src/a.ts', uriBaseId: 'SRCROOT' });
  });

  it('passes with a warning when the same error is on a line the change did not touch', async () => {
    const repo = initRepo(join(tmp(), 'untouched'));
    const base = commit(repo, { 'src/a.ts': 'export const b: any = 2;\n' }, 'legacy');
    const head = commit(repo, { 'src/a.ts': 'export const b: any = 2;\nexport const c = 3;\n' }, 'add c');
    const r = await lint(repo, base, head);
    expect(r.code, r.stderr).to.equal(0);
    expect(testOutput(r)).to.include({ result: 'WARNING', failures: 0, warnings: 1 });
    expect(r.results).to.include({ errors: '1', warnings: '0', notes: '0' });
    expect(r.report!.findings.map((f) => [f.line, f.touched, f.failing])).to.deep.equal([[1, false, false]]);

    // the base branch's policy can make every error fail
    const strict = initRepo(join(tmp(), 'untouched-strict'));
    const b2 = commit(strict, { '.vouch/policy.yaml': 'version: 1\nlint:\n  gate: all\n', 'src/a.ts': 'export const b: any = 2;\n' }, 'legacy');
    const h2 = commit(strict, { 'src/a.ts': 'export const b: any = 2;\nexport const c = 3;\n' }, 'add c');
    const s = await lint(strict, b2, h2);
    expect(s.code, s.stderr).to.equal(1);
    expect(testOutput(s)).to.include({ result: 'FAILURE', failures: 1 });
  });

  it('reports eslint-plugin-security findings as warnings; fail-on-warnings in the policy makes them fail', async () => {
    const code = 'export function run(code: string): unknown {\n  return eval(code);\n}\n';
    const repo = initRepo(join(tmp(), 'security'));
    const base = commit(repo, { 'README.md': '# x\n' }, 'initial');
    const head = commit(repo, { 'src/run.ts': code }, 'add run');
    const r = await lint(repo, base, head);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.report!.findings.map((f) => `${f.ruleId} ${f.level} ${String(f.touched)}`)).to.include('security/detect-eval-with-expression warning true');
    expect(testOutput(r)).to.include({ result: 'WARNING', failures: 0 });

    const strict = initRepo(join(tmp(), 'security-strict'));
    const b2 = commit(strict, { '.vouch/policy.yaml': 'version: 1\nlint:\n  fail-on-warnings: true\n' }, 'policy');
    const h2 = commit(strict, { 'src/run.ts': code }, 'add run');
    const s = await lint(strict, b2, h2);
    expect(s.code, s.stderr).to.equal(1);
    expect(s.stdout).to.include('security/detect-eval-with-expression');
  });

  it('fails on a type error via tsc --noEmit when tsconfig.json exists, with one SARIF run per tool', async () => {
    const repo = initRepo(join(tmp(), 'tsc'));
    const base = commit(repo, { 'tsconfig.json': TSCONFIG, 'src/a.ts': 'export const a: number = 1;\n' }, 'initial');
    const head = commit(repo, { 'src/a.ts': "export const a: number = 1;\nexport const b: number = 'two';\n" }, 'add b');
    const r = await lint(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.report!.typecheck).to.equal('tsc --noEmit');
    expect(r.report!.findings.map((f) => `${f.tool} ${f.ruleId} ${f.path}:${String(f.line)} ${String(f.failing)}`)).to.deep.equal(['tsc TS2322 src/a.ts:2 true']);
    expect(r.stdout).to.include('TS2322').and.include("Type 'string' is not assignable to type 'number'");
    checkSarif(r.sarif!);
    expect(r.sarif!.runs.map((x) => x.tool.driver.name)).to.deep.equal(['eslint', 'tsc']);
    // counts in the results match the SARIF log
    const counts = sarifCounts(r.sarif!);
    expect(r.results).to.include({ errors: String(counts['error']), warnings: String(counts['warning']), notes: String(counts['note']) });
    expect(counts['error']).to.equal(1);

    // policy typecheck: false skips tsc
    const off = initRepo(join(tmp(), 'tsc-off'));
    const b2 = commit(off, { '.vouch/policy.yaml': 'version: 1\nlint:\n  typecheck: false\n', 'tsconfig.json': TSCONFIG, 'src/a.ts': 'export const a = 1;\n' }, 'initial');
    const h2 = commit(off, { 'src/a.ts': "export const a = 1;\nexport const b: number = 'two';\n" }, 'add b');
    const o = await lint(off, b2, h2);
    expect(o.code, o.stderr).to.equal(0);
    expect(o.report!.typecheck).to.match(/policy/);
  });

  it("uses the repository's own eslint flat config when it has one", async () => {
    const repo = initRepo(join(tmp(), 'own-config'));
    const base = commit(repo, { 'eslint.config.mjs': "export default [{ files: ['**/*.js'], rules: { 'no-var': 'error' } }];\n", 'lib/a.js': 'export const a = 1;\n' }, 'initial');
    const head = commit(repo, { 'lib/a.js': 'export const a = 1;\nvar b = 2;\nexport { b };\n' }, 'add b');
    const r = await lint(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.report!.eslint.config).to.equal('eslint.config.mjs');
    expect(r.report!.findings.map((f) => `${f.ruleId} ${f.path}:${String(f.line)}`)).to.deep.equal(['no-var lib/a.js:2']);
  });

  it('merges SARIF files other linters wrote and gates on their findings too', async () => {
    const repo = initRepo(join(tmp(), 'import'));
    const base = commit(repo, { 'README.md': '# x\n' }, 'initial');
    const head = commit(repo, { 'run.sh': 'echo $1\n' }, 'add run.sh');
    const external: Sarif = {
      $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
      version: '2.1.0',
      runs: [{ tool: { driver: { name: 'shellcheck' } }, results: [{ ruleId: 'SC2086', ruleIndex: 0, level: 'error', message: { text: 'Double quote to prevent globbing' }, locations: [{ physicalLocation: { artifactLocation: { uri: 'run.sh' }, region: { startLine: 1, startColumn: 6 } } }] }] }],
    };
    const file = join(tmp(), 'shellcheck.sarif');
    writeFileSync(file, JSON.stringify(external));
    const r = await lint(repo, base, head, ['--sarif', file]);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stdout).to.include('run.sh:1:6').and.include('shellcheck SC2086');
    checkSarif(r.sarif!);
    expect(r.sarif!.runs.map((x) => x.tool.driver.name)).to.deep.equal(['shellcheck']);
    expect(r.results['errors']).to.equal('1');
  });

  it('a tsconfig.json the change broke fails on its touched line (tsc reports it there)', async () => {
    const repo = initRepo(join(tmp(), 'tsconfig'));
    const base = commit(repo, { 'tsconfig.json': '{\n  "compilerOptions": {\n    "strict": true\n  },\n  "include": ["src"]\n}\n', 'src/a.ts': 'export const a = 1;\n' }, 'initial');
    const head = commit(repo, { 'tsconfig.json': '{\n  "compilerOptions": {\n    "strict": true,\n    "noSuchOption": true\n  },\n  "include": ["src"]\n}\n' }, 'typo');
    const r = await lint(repo, base, head);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.report!.findings.map((f) => `${f.tool} ${f.ruleId} ${f.path}:${String(f.line)} ${String(f.failing)}`)).to.deep.equal(['tsc TS5023 tsconfig.json:4 true']);
  });

  describe('bad input: clear error, non-zero exit, nothing written', () => {
    it('a missing or malformed SARIF file', async () => {
      const repo = initRepo(join(tmp(), 'bad-sarif'));
      const base = commit(repo, { 'src/a.ts': 'export const a = 1;\n' }, 'a');
      const head = commit(repo, { 'src/a.ts': 'export const a = 1;\nexport const b: any = 2;\n' }, 'b');
      const missing = await lint(repo, base, head, ['--sarif', 'no-such.sarif']);
      expect(missing.code).to.equal(2);
      expect(missing.stderr).to.include('[STAGE_INPUT_INVALID]').and.include('no-such.sarif cannot be read');
      expect(existsSync(missing.reportDir)).to.equal(false);
      expect(missing.results).to.deep.equal({});

      const bad = join(tmp(), 'bad.sarif');
      writeFileSync(bad, '{"version": "2.1.0", "runs": [');
      const truncated = await lint(repo, base, head, ['--sarif', bad]);
      expect(truncated.code).to.equal(2);
      expect(truncated.stderr).to.include('[STAGE_INPUT_INVALID]').and.include('is not JSON');

      writeFileSync(bad, JSON.stringify({ version: '2.0.0', runs: [{ tool: { driver: {} }, results: [{ level: 'fatal', message: {} }] }] }));
      const wrong = await lint(repo, base, head, ['--sarif', bad]);
      expect(wrong.code).to.equal(2);
      expect(wrong.stderr).to.include('not valid SARIF 2.1.0').and.include('version must be "2.1.0"').and.include('runs[0].tool.driver.name is required').and.include('runs[0].results[0].level');
      expect(existsSync(wrong.reportDir)).to.equal(false);
      expect(wrong.results).to.deep.equal({});
    });

    it("a repository eslint config that cannot load: the tool's error, nothing written", async () => {
      const repo = initRepo(join(tmp(), 'broken-config'));
      const base = commit(repo, { 'eslint.config.mjs': "throw new Error('config exploded');\n", 'a.js': 'export const a = 1;\n' }, 'a');
      const head = commit(repo, { 'a.js': 'export const a = 2;\n' }, 'b');
      const r = await lint(repo, base, head);
      expect(r.code).to.not.equal(0).and.not.equal(1);
      expect(r.stderr).to.include('[STAGE_TOOL_FAILED]').and.include("repository's eslint.config.mjs").and.include('config exploded');
      expect(existsSync(r.reportDir)).to.equal(false);
      expect(r.results).to.deep.equal({});
    });

    it('a source that does not exist, a revision that does not exist, a head that is not checked out', async () => {
      const gone = await lint(join(tmp(), 'no-such-dir'), 'HEAD~1', 'HEAD');
      expect(gone.code).to.equal(2);
      expect(gone.stderr).to.include('[STAGE_REPO_NOT_FOUND]').and.include('does not exist');
      expect(existsSync(join(tmp(), 'no-such-dir'))).to.equal(false);

      const repo = initRepo(join(tmp(), 'bad-rev'));
      const base = commit(repo, { 'a.ts': 'export const a = 1;\n' }, 'a');
      commit(repo, { 'a.ts': 'export const a = 2;\n' }, 'b');
      const r = await lint(repo, base, 'no-such-head');
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('[STAGE_REVISION_NOT_FOUND]').and.include('no-such-head');
      expect(existsSync(r.reportDir)).to.equal(false);
      expect(r.results).to.deep.equal({});

      const behind = await lint(repo, base, base);
      expect(behind.code).to.equal(2);
      expect(behind.stderr).to.include('[STAGE_INPUT_INVALID]').and.include(`not the head revision ${base}`);
      expect(existsSync(behind.reportDir)).to.equal(false);
    });
  });

  describe('under vouch run, sandboxed, no network (tasks/lint.yaml after tasks/clone.yaml)', () => {
    let upstreamRoot = '';
    let upstream = '';

    before(() => {
      requireTool('bwrap');
      // the sandbox hides /tmp: the upstream repository lives where steps can read it
      upstreamRoot = mkdtempSync('/var/tmp/vouch-lint-');
      upstream = initRepo(join(upstreamRoot, 'upstream'));
      commit(upstream, { 'tsconfig.json': TSCONFIG, 'src/a.ts': 'export const a = 1;\n' }, 'initial');
      git(upstream, ['tag', 'base']);
      commit(upstream, { 'src/a.ts': 'export const a = 1;\nexport const b = a + 1;\n' }, 'clean');
      git(upstream, ['branch', 'clean']);
      git(upstream, ['checkout', '--quiet', 'base']);
      commit(upstream, { 'src/a.ts': "export const a = 1;\nexport const b: number = 'two';\n" }, 'type error');
      git(upstream, ['branch', 'broken']);
    });
    after(() => {
      if (upstreamRoot) rmSync(upstreamRoot, { recursive: true, force: true });
    });

    async function pipeline(revision: string): Promise<{ code: number | null; stderr: string; runDir: string; status: { conditions: { reason: string }[]; results?: { name: string; value: string }[] } }> {
      const runDir = join(tmp(), `run-${revision}`);
      const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/lint-change.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '-p', `url=${upstream}`, '-p', `revision=${revision}`, '-p', 'base-revision=base', '--run-dir', runDir, '--json'], { timeoutMs: 100_000 });
      const lintRun = readdirSync(join(runDir, 'taskruns')).map((f) => JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { conditions: { reason: string }[]; results?: { name: string; value: string }[] } }).find((t) => t.metadata.labels['tekton.dev/pipelineTask'] === 'lint');
      if (!lintRun) throw new Error(`no lint TaskRun: ${r.stderr}`);
      return { code: r.code, stderr: r.stderr, runDir, status: lintRun.status };
    }

    it('a clean change succeeds; a type error on a touched line fails the lint TaskRun with the reason in its log', async () => {
      const ok = await pipeline('clean');
      expect(ok.code, ok.stderr).to.equal(0);
      expect(ok.status.conditions[0]?.reason).to.equal('Succeeded');
      expect(JSON.parse(ok.status.results?.find((x) => x.name === 'TEST_OUTPUT')?.value ?? '{}')).to.include({ result: 'SUCCESS', namespace: 'vouch.lint' });

      const bad = await pipeline('broken');
      expect(bad.code).to.equal(1);
      expect(bad.status.conditions[0]?.reason).to.equal('Failed');
      expect(bad.status.results?.find((x) => x.name === 'errors')?.value).to.equal('1');
      expect(readFileSync(join(bad.runDir, 'logs/lint/lint.log'), 'utf8')).to.include('src/a.ts:2:14').and.include('TS2322');
      expect(existsSync(join(bad.runDir, 'workspaces/source/.vouch/reports/lint/lint.sarif'))).to.equal(true);
    });
  });
});
