import { expect } from 'chai';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runVouch } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, filesUnder, initRepo, requireTool, runTaskInProcess } from './helpers.ts';

// Secrets made up for the tests (right shapes, no real accounts).
const AWS_KEY_ID = 'AKIAQ7XK2LMN4PRS5TUV';
const AWS_SECRET = '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';
const DOTENV_PASSWORD = 'Tr0ub4dor-and-3-horses';
const GITHUB_TOKEN = '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';
const TRANSCRIPT_KEY = 'AKIAZ3WQ9PLMK8JNH7BG';
const POLICY_TOKEN = 'itk_9f8e7d6c5b4a39281706f5e4d3c2b1a0';

interface SecretsRun {
  code: number | null;
  stdout: string;
  stderr: string;
  results: Record<string, string>;
  reportDir: string;
  report: { findings: { ruleId: string; path: string; line: number; column: number; length: number; target: string }[]; skipped: string[]; passed: boolean; reasons: string[] } | undefined;
  sarif: Sarif | undefined;
}

interface Sarif {
  $schema: string;
  version: string;
  runs: { tool: { driver: { name: string; rules: { id: string }[] } }; results: { ruleId: string; ruleIndex: number; level: string; message: { text: string }; locations: { physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number; startColumn: number; endColumn: number } } }[] }[] }[];
}

/** The SARIF 2.1.0 shape consumers rely on (required properties and their types, per the OASIS spec §3). */
function checkSarif(s: Sarif): void {
  expect(s.version).to.equal('2.1.0');
  expect(s.$schema).to.match(/sarif-2\.1\.0/);
  expect(s.runs).to.be.an('array').with.length(1);
  for (const run of s.runs) {
    expect(run.tool.driver.name).to.be.a('string').and.not.equal('');
    for (const r of run.results) {
      expect(r.message.text).to.be.a('string').and.not.equal('');
      expect(['none', 'note', 'warning', 'error']).to.include(r.level);
      expect(run.tool.driver.rules[r.ruleIndex]?.id).to.equal(r.ruleId);
      for (const l of r.locations) {
        expect(l.physicalLocation.artifactLocation.uri).to.be.a('string');
        expect(l.physicalLocation.region.startLine).to.be.a('number').at.least(1);
        expect(l.physicalLocation.region.startColumn).to.be.a('number').at.least(1);
        expect(l.physicalLocation.region.endColumn).to.be.greaterThan(l.physicalLocation.region.startColumn);
      }
    }
  }
}

describe('stage secrets (vouch task secrets)', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-secrets-');
  let n = 0;

  async function scan(repo: string, base: string, head: string, extra: string[] = [], viaCli = false): Promise<SecretsRun> {
    const resultsDir = join(tmp(), `results-${String(++n)}`);
    mkdirSync(resultsDir);
    const args = ['--source', repo, '--base-revision', base, '--head-revision', head, ...extra, '--result', `TEST_OUTPUT=${join(resultsDir, 'TEST_OUTPUT')}`, '--result', `findings=${join(resultsDir, 'findings')}`];
    const r = viaCli ? await runVouch(['task', 'secrets', ...args]) : await runTaskInProcess('secrets', args);
    const results: Record<string, string> = {};
    for (const name of readdirSync(resultsDir)) results[name] = readFileSync(join(resultsDir, name), 'utf8');
    const reportDir = join(repo, '.vouch/reports/secrets');
    const read = (f: string): unknown => (existsSync(join(reportDir, f)) ? JSON.parse(readFileSync(join(reportDir, f), 'utf8')) : undefined);
    return { ...r, results, reportDir, report: read('report.json') as SecretsRun['report'], sarif: read('secrets.sarif') as Sarif | undefined };
  }

  before(() => {
    requireTool('git');
  });

  it('passes a clean change, with an empty SARIF log and TEST_OUTPUT SUCCESS', async () => {
    const repo = initRepo(join(tmp(), 'clean'));
    const base = commit(repo, { 'README.md': '# demo\n' }, 'initial');
    const head = commit(repo, { 'src/sum.ts': 'export const sum = (a: number, b: number) => a + b;\n', '.env.example': 'DB_PASSWORD=${DB_PASSWORD}\nAPI_TOKEN=changeme\n' }, 'add sum');
    const r = await scan(repo, base, head);
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'SUCCESS', namespace: 'vouch.secrets', successes: 2, failures: 0, warnings: 0 });
    expect(r.results['findings']).to.equal('0');
    expect(r.sarif).to.not.equal(undefined);
    checkSarif(r.sarif!);
    expect(r.sarif!.runs[0]?.results).to.deep.equal([]);
  });

  it('fails on an AWS-style key (and other secrets) in the added lines, and never prints a secret anywhere', async () => {
    const repo = initRepo(join(tmp(), 'leaky'));
    const base = commit(repo, { 'README.md': '# demo\n', 'src/config.ts': 'export const region = "eu-west-1";\n' }, 'initial');
    const head = commit(
      repo,
      {
        'src/config.ts': `export const region = "eu-west-1";\nexport const keyId = "${AWS_KEY_ID}";\nexport const gh = "${GITHUB_TOKEN}";\n`,
        'deploy/creds.ini': `[default]\naws_secret_access_key = ${AWS_SECRET}\n`,
        '.env': `API_URL=https://example.com\nDB_PASSWORD=${DOTENV_PASSWORD}\n`,
      },
      'agent: wire config',
    );
    // through the real CLI: its stdout and stderr are part of what must never show a secret
    const r = await scan(repo, base, head, [], true);
    expect(r.code).to.equal(1);
    const where = r.report!.findings.map((f) => `${f.path}:${String(f.line)}:${String(f.column)} ${f.ruleId}`);
    expect(where).to.deep.equal([
      '.env:2:13 vouch/dotenv-secret',
      'deploy/creds.ini:2:1 @secretlint/secretlint-rule-aws',
      'src/config.ts:2:23 vouch/aws-access-key-id',
      'src/config.ts:3:20 @secretlint/secretlint-rule-github',
    ]);
    expect(r.report!.findings.find((f) => f.ruleId === 'vouch/aws-access-key-id')?.length).to.equal(20);
    expect(JSON.parse(r.results['TEST_OUTPUT'] ?? '')).to.include({ result: 'FAILURE', failures: 3, successes: 0 });
    expect(r.results['findings']).to.equal('4');
    expect(r.stderr).to.include('secret found: src/config.ts:2:23 [vouch/aws-access-key-id]');
    expect(r.stdout).to.include('secrets: FAILED').and.include('AWS access key id');
    checkSarif(r.sarif!);
    expect(r.sarif!.runs[0]?.results.map((x) => x.locations[0]?.physicalLocation.artifactLocation.uri)).to.include('src/config.ts');
    // the secret itself appears in no output: stdout, stderr, results, report files
    const outputs = [r.stdout, r.stderr, ...Object.values(r.results), ...filesUnder(r.reportDir).map((f) => readFileSync(f, 'utf8'))];
    for (const secret of [AWS_KEY_ID, AWS_SECRET, DOTENV_PASSWORD, GITHUB_TOKEN]) {
      for (const o of outputs) expect(o.includes(secret), `secret ${secret.slice(0, 4)}… printed`).to.equal(false);
      // not even most of it
      for (const o of outputs) expect(o.includes(secret.slice(4, 16))).to.equal(false);
    }
  });

  it('scans only what the change added: a secret already in the base is not the change\'s finding', async () => {
    const repo = initRepo(join(tmp(), 'old-secret'));
    const base = commit(repo, { 'legacy.ts': `export const k = "${AWS_KEY_ID}";\n` }, 'old');
    const head = commit(repo, { 'legacy.ts': `export const k = "${AWS_KEY_ID}";\nexport const x = 1;\n` }, 'touch');
    const r = await scan(repo, base, head);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.report!.findings).to.deep.equal([]);
  });

  it('scans the agent transcript when given', async () => {
    const repo = initRepo(join(tmp(), 'transcript'));
    const base = commit(repo, { 'README.md': '# demo\n' }, 'initial');
    const head = commit(repo, { 'src/x.ts': 'export const x = 1;\n' }, 'x');
    writeFileSync(join(tmp(), 'transcript.txt'), `user: deploy it\nagent: using key ${TRANSCRIPT_KEY} from the environment\n`);
    const r = await scan(repo, base, head, ['--transcript', join(tmp(), 'transcript.txt')]);
    expect(r.code).to.equal(1);
    expect(r.report!.findings).to.have.length(1);
    expect(r.report!.findings[0]).to.include({ target: 'transcript', line: 2, column: 18, ruleId: 'vouch/aws-access-key-id' });
    expect(r.sarif!.runs[0]?.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri).to.match(/^file:\/\/.*transcript\.txt$/);
    for (const f of filesUnder(r.reportDir)) expect(readFileSync(f, 'utf8')).to.not.include(TRANSCRIPT_KEY);
    expect(r.stderr + r.stdout).to.not.include(TRANSCRIPT_KEY);
  });

  it('applies the base revision\'s extra patterns and allow-list', async () => {
    const repo = initRepo(join(tmp(), 'policy'));
    const policy = [
      'version: 1',
      'secrets:',
      '  patterns:',
      '    - id: internal-token',
      '      regex: "itk_[0-9a-f]{32}"',
      '      description: internal service token',
      '  allow-paths:',
      '    - "test/fixtures/**"',
      '',
    ].join('\n');
    const base = commit(repo, { '.vouch/policy.yaml': policy }, 'policy');
    const head = commit(repo, { 'src/client.ts': `const t = "${POLICY_TOKEN}";\n`, 'test/fixtures/fake.ts': `const k = "${AWS_KEY_ID}";\n` }, 'client');
    const r = await scan(repo, base, head);
    expect(r.code).to.equal(1);
    expect(r.report!.findings.map((f) => `${f.path} ${f.ruleId}`)).to.deep.equal(['src/client.ts policy/internal-token']);
    expect(r.report!.skipped).to.deep.equal(['test/fixtures/fake.ts']);
    expect(readFileSync(join(r.reportDir, 'report.json'), 'utf8')).to.not.include(POLICY_TOKEN);
  });

  describe('bad input: clear error, non-zero exit, nothing written', () => {
    it('a revision that does not exist', async () => {
      const repo = initRepo(join(tmp(), 'bad-rev'));
      const base = commit(repo, { 'a.txt': 'a\n' }, 'a');
      const r = await scan(repo, base, 'no-such-head');
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include('[STAGE_REVISION_NOT_FOUND]').and.include('no-such-head');
      expect(existsSync(r.reportDir)).to.equal(false);
      expect(r.results).to.deep.equal({});
    });

    it('a malformed policy in the base revision, an unreadable transcript, a repository that does not exist', async () => {
      const repo = initRepo(join(tmp(), 'bad-policy'));
      const base = commit(repo, { '.vouch/policy.yaml': 'version: 1\nsecrets:\n  patterns:\n    - id: broken\n      regex: "([a-z"\n' }, 'bad');
      const head = commit(repo, { 'b.txt': 'b\n' }, 'b');
      const r = await scan(repo, base, head);
      expect(r.code).to.equal(2);
      expect(r.stderr).to.include(`${base}:.vouch/policy.yaml:5:14: secrets.patterns[0].regex: not a valid regular expression`);
      expect(existsSync(r.reportDir)).to.equal(false);
      expect(r.results).to.deep.equal({});

      const repo2 = initRepo(join(tmp(), 'no-transcript'));
      const b2 = commit(repo2, { 'a.txt': 'a\n' }, 'a');
      const t = await scan(repo2, b2, b2, ['--transcript', join(tmp(), 'missing.txt')]);
      expect(t.code).to.equal(2);
      expect(t.stderr).to.include('[STAGE_INPUT_INVALID]').and.include('missing.txt');
      expect(existsSync(t.reportDir)).to.equal(false);

      const gone = join(tmp(), 'not-a-repo');
      mkdirSync(gone);
      const g = await scan(gone, 'HEAD~1', 'HEAD');
      expect(g.code).to.equal(2);
      expect(g.stderr).to.include('[STAGE_REPO_NOT_FOUND]').and.include('not a git repository');
      expect(readdirSync(gone)).to.deep.equal([]);
    });
  });

});
