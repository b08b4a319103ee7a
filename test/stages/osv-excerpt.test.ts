// The bundled OSV excerpt (data/osv-excerpt/): real, labelled advisories the sca stage falls back to when no database
// is configured, always with a loud warning saying how many records it holds and how old they are.
import { expect } from 'chai';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, runVouch, SHARED } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { commit, initRepo } from './helpers.ts';
import { lodashProject } from './npm-project.ts';

const EXCERPT = join(REPO_ROOT, 'data/osv-excerpt');
const FIXTURES = join(SHARED, 'fixtures/osv');

interface ScaJson {
  database: { dir: string; records: number; bundledExcerpt: boolean };
  vulnerabilities: { id: string }[];
}

describe('bundled OSV excerpt (sca without --osv-database)', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-osv-excerpt-');
  let n = 0;

  function repo(lodash: string, basePolicy?: string): { dir: string; base: string } {
    const dir = initRepo(join(tmp(), `repo-${String(n++)}`));
    const base = commit(dir, { 'package-lock.json': JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'demo', version: '1.0.0' } } }), ...(basePolicy === undefined ? {} : { '.vouch/policy.yaml': basePolicy }) }, 'base');
    commit(dir, { 'package-lock.json': JSON.stringify(lodashProject(lodash), null, 2) }, 'head');
    return { dir, base };
  }

  async function scan(dir: string, base: string, extra: string[] = []): Promise<{ code: number | null; stderr: string; testOutput: { result: string; note: string; warnings: number }; sca: ScaJson }> {
    const sbom = await runVouch(['task', 'sbom', '--source', dir]);
    expect(sbom.code, sbom.stderr).to.equal(0);
    const out = join(dir, '..', `TEST_OUTPUT-${String(n++)}`);
    const r = await runVouch(['task', 'sca', '--source', dir, '--base-revision', base, ...extra, '--result', `TEST_OUTPUT=${out}`]);
    return { code: r.code, stderr: r.stderr, testOutput: JSON.parse(readFileSync(out, 'utf8')) as { result: string; note: string; warnings: number }, sca: JSON.parse(readFileSync(join(dir, '.vouch/reports/sca/sca.json'), 'utf8')) as ScaJson };
  }

  it('ships real records only, byte for byte the reviewed fixtures, with their source and CC-BY-4.0 attribution', () => {
    const files = readdirSync(join(EXCERPT, 'npm')).sort();
    expect(files).to.deep.equal(readdirSync(join(FIXTURES, 'npm')).sort());
    for (const f of files) expect(readFileSync(join(EXCERPT, 'npm', f), 'utf8'), f).to.equal(readFileSync(join(FIXTURES, 'npm', f), 'utf8'));
    const source = readFileSync(join(EXCERPT, 'SOURCE.md'), 'utf8');
    expect(source).to.include('NOT a vulnerability database').and.include('CC-BY-4.0').and.include('github/advisory-database').and.include(`${String(files.length)} real advisories`);
  });

  it('lodash 4.17.15 with no database: fails on both advisories and warns loudly in log, report and TEST_OUTPUT', async () => {
    const { dir, base } = repo('4.17.15');
    const r = await scan(dir, base);
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr).to.include('GHSA-35jh-r3h4-6jhm').and.include('GHSA-p6mc-m468-83gw');
    const warning = /no OSV database configured .*BUNDLED EXCERPT of 2 advisories, \d+ days old\. It is NOT a vulnerability database/;
    const warnLine = r.stderr.split('\n').find((l) => warning.test(l));
    expect(warnLine, r.stderr).to.not.equal(undefined);
    expect(JSON.parse(warnLine!)).to.include({ level: 40, records: 2, newestModified: '2022-02-08T22:04:28Z' });
    expect(r.testOutput.note).to.match(warning);
    expect(r.sca.database).to.include({ records: 2, bundledExcerpt: true, dir: EXCERPT });
    const report = JSON.parse(readFileSync(join(dir, '.vouch/reports/sca/report.json'), 'utf8')) as { reasons: string[]; database: { bundledExcerpt: boolean } };
    expect(report.database.bundledExcerpt).to.equal(true);
    expect(report.reasons[0]).to.match(warning);
  });

  it('lodash 4.17.21 with no database passes the gate but is never a clean SUCCESS', async () => {
    const { dir, base } = repo('4.17.21');
    const r = await scan(dir, base);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.testOutput).to.include({ result: 'WARNING', warnings: 1 });
    expect(r.testOutput.note).to.include('BUNDLED EXCERPT');
  });

  it("the base policy's max-database-age-days fails a scan against the (old) excerpt", async () => {
    const { dir, base } = repo('4.17.21', 'version: 1\nsca:\n  max-database-age-days: 30\n');
    const r = await scan(dir, base);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/the vulnerability database is \d+\.\d days old, more than maxDatabaseAgeDays 30/);
  });

  it('a configured but empty database is never a clean SUCCESS: it says it could find nothing', async () => {
    const { dir, base } = repo('4.17.15');
    const empty = join(tmp(), 'empty-osv');
    mkdirSync(join(empty, 'npm'), { recursive: true });
    const r = await scan(dir, base, ['--osv-database', empty]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.testOutput).to.include({ result: 'WARNING', warnings: 1 });
    expect(r.testOutput.note).to.include('holds no advisories');
    expect(r.stderr).to.match(/"level":40.*holds no advisories/);
  });

  it('a configured database is used as given, with no excerpt warning', async () => {
    const { dir, base } = repo('4.17.21');
    const r = await scan(dir, base, ['--osv-database', FIXTURES]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.sca.database).to.include({ bundledExcerpt: false, dir: FIXTURES });
    expect(r.stderr).to.not.include('BUNDLED EXCERPT');
    expect(r.testOutput).to.include({ result: 'SUCCESS' });
  });

  it('tasks/sca.yaml with the osv-database workspace unbound (vouch run, sandboxed) scans against the excerpt and says so', async () => {
    const { dir, base } = repo('4.17.20');
    const runDir = join(tmp(), 'run');
    const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/sbom-sca-excerpt.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '-p', `base-revision=${base}`, '-w', `source=${dir}`, '--run-dir', runDir], { timeoutMs: 100_000 });
    expect(r.code, r.stderr).to.equal(1);
    expect(readFileSync(join(runDir, 'logs/sca/scan.log'), 'utf8')).to.include('BUNDLED EXCERPT of 2 advisories');
    const sca = JSON.parse(readFileSync(join(dir, '.vouch/reports/sca/sca.json'), 'utf8')) as ScaJson;
    expect(sca.database).to.include({ bundledExcerpt: true, records: 2 });
    expect(sca.vulnerabilities.map((v) => v.id)).to.deep.equal(['GHSA-35jh-r3h4-6jhm']);
  });
});
