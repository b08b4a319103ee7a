// Stage `report`: Tekton's status of each pipeline task beside the stage's own report.json, never overruled by it.
import { expect } from 'chai';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runStage } from '../../src/stages/index.ts';
import { reportStage } from '../../src/stages/report/index.ts';
import { rejectsWith } from '../helpers/errors.ts';
import { tempDirPerSuite } from '../helpers/tmp.ts';

describe('stage report', () => {
  const tmp = tempDirPerSuite('vouch-report-');
  let n = 0;
  function workspace(reports: Record<string, string>): string {
    const source = join(tmp(), `ws-${String(++n)}`);
    for (const [stage, text] of Object.entries(reports)) {
      mkdirSync(join(source, '.vouch/reports', stage), { recursive: true });
      writeFileSync(join(source, '.vouch/reports', stage, 'report.json'), text);
    }
    mkdirSync(source, { recursive: true });
    return source;
  }

  it("summarises each task's Tekton status with its stage's verdict, and passes even when the run failed", async () => {
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
    const summary = JSON.parse(readFileSync(join(source, '.vouch/reports/report/summary.json'), 'utf8')) as { failed: string[]; skipped: string[]; tasks: { task: string; status: string; report?: unknown }[] };
    expect(summary.failed).to.deep.equal(['lint', 'test']);
    expect(summary.skipped).to.deep.equal(['agent-run', 'gate']);
    expect(summary.tasks.find((t) => t.task === 'test')).to.deep.equal({ task: 'test', status: 'Failed', report: { passed: true, reasons: [] } });
    expect(summary.tasks.find((t) => t.task === 'sbom')?.report).to.deep.equal({ unreadable: 'report.json is not JSON' });
    expect(summary.tasks.find((t) => t.task === 'gate')).to.deep.equal({ task: 'gate', status: 'None' });
    const md = readFileSync(join(source, '.vouch/reports/report/summary.md'), 'utf8');
    expect(md).to.include('# agent-pr-verify: Failed').and.include('Failed: lint, test.').and.include('| lint | Failed | failed: src/a.ts:3: no-eval \\| error |');
  });

  it('refuses statuses that are not Tekton\'s, and a task named twice; writes nothing', async () => {
    const source = workspace({});
    const run = (aggregate: string, statuses: string): Promise<unknown> => runStage(reportStage, { params: { 'aggregate-status': aggregate, 'task-statuses': statuses }, source, resultPaths: {} });
    await rejectsWith(run('Done', 'clone=Succeeded'), 'STAGE_USAGE', /aggregate-status/);
    await rejectsWith(run('Succeeded', 'clone=$(tasks.clone.status)'), 'STAGE_USAGE', /name=Succeeded\|Failed\|None/);
    await rejectsWith(run('Succeeded', 'clone'), 'STAGE_USAGE');
    await rejectsWith(run('Succeeded', 'clone=Succeeded clone=Failed'), 'STAGE_USAGE', /twice/);
    expect(() => readFileSync(join(source, '.vouch/reports/report/summary.json'))).to.throw();
  });
});
