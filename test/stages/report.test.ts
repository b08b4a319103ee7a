// The reviewer's HTML report: built from the stages' report.json files, escaped against hostile content, and
// rendered for real in headless Chromium (Debian `chromium`, installed by .ci/run) to check what a reviewer sees.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPORTS_DIR } from '../../src/stages/framework.ts';
import { collectStageReports, parseTestOutput } from '../../src/stages/report/collect.ts';
import { esc, renderRunReport, type RunReport } from '../../src/stages/report/html.ts';
import { runStage } from '../../src/stages/index.ts';
import { reportStage } from '../../src/stages/report/index.ts';
import { rejectsWith } from '../helpers/errors.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';
import { requireTool, runTaskInProcess } from './helpers.ts';

const HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>';

function writeStageReport(source: string, stage: string, report: Record<string, unknown>): void {
  const dir = join(source, REPORTS_DIR, stage);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), JSON.stringify({ stage, timestamp: '2026-11-24T10:00:00.000Z', params: {}, ...report }));
}

function testOutput(result: string, successes: number, failures: number, note: string): string {
  return JSON.stringify({ result, namespace: 'vouch', timestamp: '2026-11-24T10:00:00Z', successes, failures, warnings: 0, note });
}

/** What headless Chromium makes of the page: its DOM after parsing, as Chromium serialises it. */
function renderInChromium(file: string): string {
  requireTool('chromium');
  const profile = mkdtempSync(join(tmpdir(), 'vouch-chromium-'));
  try {
    return execFileSync(
      'chromium',
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--dump-dom', `file://${file}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 },
    );
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

describe('stages/report: the reviewer HTML report', () => {
  const tmp = tempDirPerSuite('vouch-report-');

  it('esc leaves no markup-significant character', () => {
    expect(esc(HOSTILE)).to.not.match(/[<>"']/);
    expect(esc('a & b')).to.equal('a &#38; b');
  });

  it('parseTestOutput reads the Konflux shape and refuses anything else', () => {
    expect(parseTestOutput(testOutput('FAILURE', 3, 1, 'n'))).to.deep.equal({ result: 'FAILURE', successes: 3, failures: 1, warnings: 0, note: 'n' });
    expect(parseTestOutput('not json')).to.equal(undefined);
    expect(parseTestOutput('{"successes":1}')).to.equal(undefined);
    expect(parseTestOutput(undefined)).to.equal(undefined);
  });

  it('collects every stage report and names the ones it cannot read', async () => {
    const source = join(tmp(), 'collect');
    writeStageReport(source, 'lint', { passed: true, reasons: [], results: { TEST_OUTPUT: testOutput('SUCCESS', 2, 0, 'clean') } });
    writeStageReport(source, 'test', { passed: false, reasons: ['1 test failed'], results: {} });
    mkdirSync(join(source, REPORTS_DIR, 'sca'), { recursive: true });
    writeFileSync(join(source, REPORTS_DIR, 'sca', 'report.json'), '{"passed": tr');
    mkdirSync(join(source, REPORTS_DIR, 'build'), { recursive: true });
    const got = await collectStageReports(source);
    expect(got.stages.map((s) => [s.stage, s.passed])).to.deep.equal([['lint', true], ['test', false]]);
    expect(got.stages[0]?.testOutput?.successes).to.equal(2);
    expect(got.unreadable.map((u) => u.stage)).to.deep.equal(['build', 'sca']);
    expect(got.unreadable.find((u) => u.stage === 'build')?.problem).to.match(/did not finish/);
    expect(got.unreadable.find((u) => u.stage === 'sca')?.problem).to.match(/cannot be read/);
  });

  it('a workspace with no reports gives a page that says so', async () => {
    const source = join(tmp(), 'empty');
    mkdirSync(source);
    const r = await runTaskInProcess('report', ['--source', source]);
    expect(r.code).to.equal(0);
    const html = readFileSync(join(source, REPORTS_DIR, 'report', 'index.html'), 'utf8');
    expect(html).to.contain('No stage left a report in the workspace');
  });

  it('vouch task report writes a page that Chromium renders with risk, gates and the agent run, and no hostile markup survives', async () => {
    const source = join(tmp(), 'run');
    writeStageReport(source, 'classify', { passed: true, reasons: [], results: { RISK_TIER: 'high', RISK_REASONS: JSON.stringify(['src/auth/login.ts: auth code', HOSTILE]), REQUIRED_APPROVALS: '2 (security: 1)' } });
    writeStageReport(source, 'lint', { passed: true, reasons: [], results: { TEST_OUTPUT: testOutput('SUCCESS', 4, 0, 'no findings') } });
    writeStageReport(source, 'test', { passed: false, reasons: [`test ${HOSTILE} failed`], results: { TEST_OUTPUT: testOutput('FAILURE', 9, 1, '1 failed') } });
    writeStageReport(source, 'agent-run', { passed: true, reasons: [], results: { RUN_ID: 'run-42', MODEL: 'claude-sonnet' }, rationale: `I changed the login check. ${HOSTILE}` });
    const resultDir = join(tmp(), 'results');
    mkdirSync(resultDir);
    const r = await runTaskInProcess('report', ['--source', source, '--pipeline-run', 'agent-pr-verify-x7k2p', '--aggregate-status', 'Failed', '--repo-url', 'https://github.com/acme/shop', '--result', `FAILED_STAGES=${join(resultDir, 'failed')}`, '--result', `REPORT_PATH=${join(resultDir, 'path')}`]);
    expect(r.code, r.stderr).to.equal(0);
    expect(readFileSync(join(resultDir, 'failed'), 'utf8')).to.equal('1');
    const file = join(source, readFileSync(join(resultDir, 'path'), 'utf8'));
    const html = readFileSync(file, 'utf8');
    expect(html).to.not.contain('<script');
    expect(html).to.not.contain('<img');
    expect(html).to.contain("default-src 'none'");

    const dom = renderInChromium(file);
    // what the reviewer sees: the run, the tier and why, each gate's verdict, the agent's words marked as such
    expect(dom).to.contain('agent-pr-verify-x7k2p');
    expect(dom).to.match(/Tier <span class="badge tier-high">high<\/span>/);
    expect(dom).to.contain('src/auth/login.ts: auth code');
    expect(dom).to.match(/<code>test<\/code><\/td><td><span class="badge fail">FAILURE<\/span>/);
    expect(dom).to.match(/<code>lint<\/code><\/td><td><span class="badge pass">SUCCESS<\/span>/);
    expect(dom).to.contain("The agent's own words (unverified)");
    expect(dom).to.contain('run-42');
    // the hostile strings are text in the DOM, never elements: Chromium parsed no script and no img
    expect(dom).to.not.match(/<script[\s>]/);
    expect(dom).to.not.match(/<img[\s>]/);
    expect(dom).to.contain('&lt;script&gt;document.title="pwned"&lt;/script&gt;');
    expect(dom).to.match(/<title>vouch report: agent-pr-verify-x7k2p<\/title>/);
  });

  it('draws the provenance graph and the admission verdict when given', () => {
    const report: RunReport = {
      generatedAt: new Date('2026-11-24T10:00:00Z'),
      run: { pipelineRun: 'demo-1', status: 'Succeeded' },
      stages: [],
      unreadable: [],
      provenance: {
        buildType: 'https://tekton.dev/chains/v2/slsa',
        builderId: 'https://vouch.dev/builders/local',
        invocationId: 'uid-1',
        inputs: [{ label: 'git+https://github.com/acme/shop', detail: 'sha1:abc' }, { label: 'task vouch-test', detail: 'sha256:def' }],
        outputs: [{ label: 'registry.local/shop', detail: 'sha256:0123' }],
      },
      evidence: [
        { predicateType: 'https://slsa.dev/provenance/v1', subjects: ['registry.local/shop'], logIndex: 7, verified: true, file: 'p.sigstore.json' },
        { predicateType: 'https://in-toto.io/attestation/test-result/v0.1', subjects: ['registry.local/shop'], verified: false, file: 't.sigstore.json', problem: 'signature does not verify' },
      ],
      admission: [
        { subject: 'registry.local/shop@sha256:0123', allowed: true, summary: 'every rule passed', rules: [{ code: 'provenance.signed', outcome: 'passed', message: 'signed by the sidecar key' }] },
        { subject: 'registry.local/other:latest', allowed: false, summary: 'no provenance', rules: [{ code: 'provenance.present', outcome: 'failed', message: 'no attestation for the digest' }] },
      ],
    };
    const html = renderRunReport(report);
    expect(html).to.contain('<svg');
    expect(html).to.contain('SLSA provenance v1');
    expect(html).to.contain('log index 7');
    expect(html).to.match(/ADMITTED<\/span> <code>registry.local\/shop@sha256:0123/);
    expect(html).to.match(/DENIED<\/span> <code>registry.local\/other:latest/);
    expect(html).to.contain('signature does not verify');
    expect(renderRunReport(report)).to.equal(html);
  });
});

describe("stages/report: Tekton's task statuses beside the stages' own reports", () => {
  const tmp = tempDirPerSuite('vouch-report-status-');
  let n = 0;
  function workspace(reports: Record<string, string>): string {
    const source = join(tmp(), `ws-${String(++n)}`);
    for (const [stage, text] of Object.entries(reports)) {
      mkdirSync(join(source, REPORTS_DIR, stage), { recursive: true });
      writeFileSync(join(source, REPORTS_DIR, stage, 'report.json'), text);
    }
    mkdirSync(source, { recursive: true });
    return source;
  }

  it("summarises each task's Tekton status with its stage's verdict, never overruled by it, and passes even when the run failed", async () => {
    const source = workspace({
      clone: JSON.stringify({ stage: 'clone', passed: true, reasons: [] }),
      lint: JSON.stringify({ stage: 'lint', passed: false, reasons: ['src/a.ts:3: no-eval | error'] }),
      // a report claiming success for a task Tekton says failed: shown as the stage's words, the status stays Failed
      test: JSON.stringify({ stage: 'test', passed: true, reasons: [] }),
      sbom: 'not json',
    });
    const results = join(source, 'summary.txt');
    const s = await runStage(reportStage, {
      params: { 'aggregate-status': 'Failed', 'task-statuses': 'clone=Succeeded agent-run=None\n lint=Failed test=Failed sbom=Succeeded gate=None' },
      source,
      resultPaths: { summary: results },
    });
    expect(s.passed).to.equal(true);
    expect(readFileSync(results, 'utf8')).to.equal('Failed; failed: lint, test');
    const summary = JSON.parse(readFileSync(join(source, REPORTS_DIR, 'report', 'summary.json'), 'utf8')) as { failed: string[]; skipped: string[]; stages: { stage: string; passed: boolean }[]; unreadable: { stage: string }[] };
    expect(summary.failed).to.deep.equal(['lint', 'test']);
    expect(summary.skipped).to.deep.equal(['agent-run', 'gate']);
    expect(summary.stages.find((t) => t.stage === 'test')?.passed).to.equal(true);
    expect(summary.unreadable.map((u) => u.stage)).to.deep.equal(['sbom']);
    const md = readFileSync(join(source, REPORTS_DIR, 'report', 'summary.md'), 'utf8');
    expect(md).to.include('# agent-pr-verify: Failed').and.include('Failed: lint, test.').and.include('| lint | Failed | failed: src/a.ts:3: no-eval \\| error |');
    expect(md).to.include('| test | Failed | passed |').and.include('| gate | None | no report |');
    // the page shows Tekton's FAILED next to the stage's own claim
    const html = readFileSync(join(source, REPORTS_DIR, 'report', 'index.html'), 'utf8');
    expect(html).to.match(/<code>test<\/code><\/td><td><span class="badge fail">FAILED<\/span><\/td><td><span class="badge pass">PASSED/);
    expect(html).to.match(/<code>gate<\/code><\/td><td><span class="badge skip">NOT RUN/);
  });

  it("refuses statuses that are not Tekton's, and a task named twice; writes nothing", async () => {
    const source = workspace({});
    const run = (aggregate: string, statuses: string): Promise<unknown> => runStage(reportStage, { params: { 'aggregate-status': aggregate, 'task-statuses': statuses }, source, resultPaths: {} });
    await rejectsWith(run('Done', 'clone=Succeeded'), 'STAGE_USAGE', /aggregate-status/);
    await rejectsWith(run('Succeeded', 'clone=$(tasks.clone.status)'), 'STAGE_USAGE', /name=Succeeded\|Failed\|None/);
    await rejectsWith(run('Succeeded', 'clone'), 'STAGE_USAGE');
    await rejectsWith(run('Succeeded', 'clone=Succeeded clone=Failed'), 'STAGE_USAGE', /twice/);
    expect(() => readFileSync(join(source, REPORTS_DIR, 'report', 'summary.json'))).to.throw();
  });
});
