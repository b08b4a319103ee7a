// `vouch task sbom` and `vouch task sca` as the Task steps run them: a real git repository with a base and a head
// commit, results written to --result paths, reports in the workspace, exit 1 when the gate says no.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { REPO_ROOT, runVouch, SHARED } from '../helpers/cli.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { lodashProject } from './npm-project.ts';
import type { Pkg } from './npm-project.ts';

const OSV = join(SHARED, 'fixtures', 'osv');
const GIT_ENV = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' };

function gitIn(repo: string, args: string[]): string {
  return execFileSync('git', args, { cwd: repo, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function commitFiles(repo: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(repo, path, '..'), { recursive: true });
    writeFileSync(join(repo, path), content);
    gitIn(repo, ['add', '--', path]);
  }
  gitIn(repo, ['commit', '--quiet', '--no-gpg-sign', '-m', 'change']);
  return gitIn(repo, ['rev-parse', 'HEAD']).trim();
}

describe('vouch task sbom / sca', function () {
  this.timeout(60_000);
  const tmp = tempDirPerSuite('vouch-sca-task-');
  let n = 0;

  /** a repository whose base commit has `basePolicy` and no dependencies, and whose head has `head` (and `headPolicy`) */
  function repo(head: Record<string, unknown>, basePolicy = '', headPolicy?: string): { dir: string; base: string } {
    const dir = join(tmp(), `repo-${String(n++)}`);
    mkdirSync(dir);
    gitIn(dir, ['init', '--quiet', '--initial-branch=main']);
    const base = commitFiles(dir, { 'package-lock.json': JSON.stringify({ lockfileVersion: 3, packages: { '': { name: 'demo', version: '1.0.0' } } }), ...(basePolicy ? { '.vouch/policy.yaml': basePolicy } : {}) });
    commitFiles(dir, { 'package-lock.json': JSON.stringify(head, null, 2), ...(headPolicy !== undefined ? { '.vouch/policy.yaml': headPolicy } : {}) });
    return { dir, base };
  }

  async function sbomThenSca(dir: string, base: string): Promise<{ sbom: Awaited<ReturnType<typeof runVouch>>; sca: Awaited<ReturnType<typeof runVouch>>; results: string }> {
    const results = join(dir, '..', `results-${String(n++)}`);
    mkdirSync(results);
    const sbom = await runVouch(['task', 'sbom', '--source', dir, '--base-revision', base, '--result', `SBOM_DIGEST=${join(results, 'SBOM_DIGEST')}`, '--result', `SBOM_PATH=${join(results, 'SBOM_PATH')}`, '--result', `SBOM_EVIDENCE=${join(results, 'SBOM_EVIDENCE')}`]);
    const sca = await runVouch(['task', 'sca', '--source', dir, '--base-revision', base, '--osv-database', OSV, '--result', `TEST_OUTPUT=${join(results, 'TEST_OUTPUT')}`, '--result', `findings=${join(results, 'findings')}`, '--result', `VULNS_EVIDENCE=${join(results, 'VULNS_EVIDENCE')}`]);
    return { sbom, sca, results };
  }

  it('lodash 4.17.15: the SBOM is written with its digest; sca fails naming both advisories and the database age', async () => {
    const { dir, base } = repo(lodashProject('4.17.15'));
    const { sbom, sca, results } = await sbomThenSca(dir, base);
    expect(sbom.code, sbom.stderr).to.equal(0);
    const sbomPath = readFileSync(join(results, 'SBOM_PATH'), 'utf8');
    expect(sbomPath).to.equal('.vouch/reports/sbom/sbom.cdx.json');
    const bytes = readFileSync(join(dir, sbomPath));
    expect(readFileSync(join(results, 'SBOM_DIGEST'), 'utf8')).to.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    const sbomReport = JSON.parse(readFileSync(join(dir, '.vouch/reports/sbom/report.json'), 'utf8')) as { diff: { added: { name: string }[] } };
    expect(sbomReport.diff.added.map((a) => a.name)).to.deep.equal(['app-utils', 'lodash']);

    expect(sca.code, sca.stderr).to.equal(1);
    expect(sca.stderr).to.include('GHSA-35jh-r3h4-6jhm').and.include('GHSA-p6mc-m468-83gw');
    const testOutput = JSON.parse(readFileSync(join(results, 'TEST_OUTPUT'), 'utf8')) as { result: string; failures: number; successes: number; note: string };
    expect(testOutput.result).to.equal('FAILURE');
    // two advisories on one package: app-utils is clean, lodash is not
    expect([testOutput.failures, testOutput.successes]).to.deep.equal([2, 1]);
    expect(testOutput.note).to.match(/2 records, newest modified 2022-02-08T22:04:28Z \(\d+\.\d days old\)/);
    const report = JSON.parse(readFileSync(join(dir, '.vouch/reports/sca/sca.json'), 'utf8')) as { vulnerabilities: { id: string; path: string[]; fixed: string; new: boolean }[] };
    expect(report.vulnerabilities.map((v) => [v.id, v.fixed, v.new])).to.deep.equal([
      ['GHSA-35jh-r3h4-6jhm', '4.17.21', true],
      ['GHSA-p6mc-m468-83gw', '4.17.20', true],
    ]);
    expect(report.vulnerabilities[0]!.path).to.deep.equal(['app-utils@2.1.0', 'lodash@4.17.15']);
    // gate evidence for the sidecar: object results naming the predicate body files by absolute file:// URL and digest
    const sbomEvidence = JSON.parse(readFileSync(join(results, 'SBOM_EVIDENCE'), 'utf8')) as Record<string, string>;
    expect(sbomEvidence).to.deep.equal({ predicateType: 'https://cyclonedx.org/bom', uri: pathToFileURL(join(dir, sbomPath)).href, digest: readFileSync(join(results, 'SBOM_DIGEST'), 'utf8') });
    const vulnsEvidence = JSON.parse(readFileSync(join(results, 'VULNS_EVIDENCE'), 'utf8')) as Record<string, string>;
    const predicateBytes = readFileSync(join(dir, '.vouch/reports/sca/vulns-predicate.json'));
    expect(vulnsEvidence).to.deep.equal({ predicateType: 'https://in-toto.io/attestation/vulns/v0.1', uri: pathToFileURL(join(dir, '.vouch/reports/sca/vulns-predicate.json')).href, digest: `sha256:${createHash('sha256').update(predicateBytes).digest('hex')}` });
    const predicate = JSON.parse(predicateBytes.toString('utf8')) as { scanner: { result: unknown[] } };
    expect(predicate.scanner.result).to.have.length(2);
  });

  it('lodash 4.17.20 fails on GHSA-35jh-r3h4-6jhm only; 4.17.21 passes', async () => {
    const twenty = repo(lodashProject('4.17.20'));
    const r20 = await sbomThenSca(twenty.dir, twenty.base);
    expect(r20.sca.code).to.equal(1);
    expect(r20.sca.stderr).to.include('GHSA-35jh-r3h4-6jhm').and.not.include('GHSA-p6mc-m468-83gw');
    const fixed = repo(lodashProject('4.17.21'));
    const r21 = await sbomThenSca(fixed.dir, fixed.base);
    expect(r21.sca.code, r21.sca.stderr).to.equal(0);
    expect(JSON.parse(readFileSync(join(r21.results, 'TEST_OUTPUT'), 'utf8'))).to.include({ result: 'SUCCESS', failures: 0 });
  });

  it("a license the base revision's policy denies fails, and the head cannot loosen that policy", async () => {
    const gpl: Pkg = { name: 'copyleft-lib', version: '1.0.0', license: 'GPL-3.0-only' };
    const strict = 'version: 1\nsca:\n  licenses-deny: [GPL-3.0-only]\n';
    const { dir, base } = repo(lodashProject('4.17.21', [gpl]), strict, 'version: 1\nsca:\n  licenses-deny: []\n');
    const { sca } = await sbomThenSca(dir, base);
    expect(sca.code).to.equal(1);
    expect(sca.stderr).to.include('copyleft-lib@1.0.0: license GPL-3.0-only');
  });

  it('a malformed lockfile: exit 2 naming the file, no SBOM written', async () => {
    const dir = join(tmp(), 'broken');
    mkdirSync(dir);
    gitIn(dir, ['init', '--quiet', '--initial-branch=main']);
    commitFiles(dir, { 'package-lock.json': '{"lockfileVersion": 3, "packages": ' });
    const r = await runVouch(['task', 'sbom', '--source', dir]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include(join(dir, 'package-lock.json'));
    expect(existsSync(join(dir, '.vouch'))).to.equal(false);
  });

  it('a malformed OSV record: exit 2 naming the file, no sca report', async () => {
    const { dir, base } = repo(lodashProject('4.17.21'));
    const osv = join(tmp(), 'osv-broken');
    mkdirSync(join(osv, 'npm'), { recursive: true });
    writeFileSync(join(osv, 'npm', 'BAD-1.json'), JSON.stringify({ id: 'BAD-1', modified: 'not a time' }));
    expect((await runVouch(['task', 'sbom', '--source', dir])).code).to.equal(0);
    const r = await runVouch(['task', 'sca', '--source', dir, '--base-revision', base, '--osv-database', osv]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.include(join(osv, 'npm', 'BAD-1.json'));
    expect(existsSync(join(dir, '.vouch/reports/sca'))).to.equal(false);
  });

  it('tasks/sbom.yaml and tasks/sca.yaml run under vouch run: lodash 4.17.20 fails the sca task', async () => {
    const { dir, base } = repo(lodashProject('4.17.20'));
    const runDir = join(tmp(), 'run');
    const r = await runVouch(['run', '--pipeline', join(REPO_ROOT, 'test/stages/fixtures/sbom-sca.yaml'), '--tasks', join(REPO_ROOT, 'tasks'), '-p', `base-revision=${base}`, '-w', `source=${dir}`, '-w', `osv=${OSV}`, '--run-dir', runDir]);
    expect(r.code, r.stderr).to.equal(1);
    const taskRuns = readdirSync(join(runDir, 'taskruns')).map((f) => JSON.parse(readFileSync(join(runDir, 'taskruns', f), 'utf8')) as { metadata: { labels: Record<string, string> }; status: { conditions: { reason: string }[]; results?: { name: string; value: string }[] } });
    const byTask = new Map(taskRuns.map((t) => [t.metadata.labels['tekton.dev/pipelineTask'], t]));
    const sbom = byTask.get('sbom')!;
    expect(sbom.status.conditions[0]!.reason).to.equal('Succeeded');
    expect(sbom.status.results?.find((x) => x.name === 'SBOM_DIGEST')?.value).to.match(/^sha256:[0-9a-f]{64}$/);
    const sca = byTask.get('sca')!;
    expect(sca.status.conditions[0]!.reason, JSON.stringify(sca.status.conditions)).to.equal('Failed');
    const report = JSON.parse(readFileSync(join(dir, '.vouch/reports/sca/sca.json'), 'utf8')) as { vulnerabilities: { id: string }[] };
    expect(report.vulnerabilities.map((v) => v.id)).to.deep.equal(['GHSA-35jh-r3h4-6jhm']);
  });
});
