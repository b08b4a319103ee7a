// Stage `report` (the Pipeline's `finally` task): gathers every stage's report.json from the workspace into one
// HTML page for the reviewer (html.ts) and a summary.json. It never fails the run: the gates have already decided,
// and a reviewer needs the page most when they said no. The provenance graph and the admission verdict are added
// by `vouch report` (src/cli/report.ts), which also reads the signed statements from the store.

import { createHash } from 'node:crypto';
import type { Stage } from '../framework.ts';
import { REPORTS_DIR } from '../framework.ts';
import { collectStageReports } from './collect.ts';
import { renderRunReport, type RunInfo } from './html.ts';

export const REPORT_STAGE = 'report';

export const reportStage: Stage = {
  name: REPORT_STAGE,
  description: "write the reviewer's HTML report of the run from every stage's report in the workspace",
  params: [
    { name: 'pipeline-run', description: 'the PipelineRun name ($(context.pipelineRun.name))', default: '' },
    { name: 'pipeline-status', description: "Tekton's aggregate status of the tasks ($(tasks.status))", default: '' },
    { name: 'repo-url', description: 'the repository of the change', default: '' },
    { name: 'pr-number', description: 'the pull request number', default: '' },
    { name: 'base-revision', description: 'the base commit of the change', default: '' },
    { name: 'head-revision', description: 'the head commit of the change', default: '' },
  ],
  results: [
    { name: 'REPORT_PATH', description: 'the HTML report, relative to the source workspace' },
    { name: 'REPORT_DIGEST', description: 'sha256:<hex> of the HTML report' },
    { name: 'FAILED_STAGES', description: 'number of stages whose gate said no or that left no report' },
  ],
  async run(ctx) {
    const collected = await collectStageReports(ctx.source, [REPORT_STAGE]);
    const p = ctx.params;
    const run: RunInfo = {
      ...(p['pipeline-run'] ? { pipelineRun: p['pipeline-run'] } : {}),
      ...(p['pipeline-status'] ? { status: p['pipeline-status'] } : {}),
      ...(p['repo-url'] ? { repository: p['repo-url'] } : {}),
      ...(p['pr-number'] ? { pullRequest: p['pr-number'] } : {}),
      ...(p['base-revision'] ? { baseRevision: p['base-revision'] } : {}),
      ...(p['head-revision'] ? { headRevision: p['head-revision'] } : {}),
    };
    const html = renderRunReport({ generatedAt: ctx.now, run, stages: collected.stages, unreadable: collected.unreadable });
    const failed = collected.stages.filter((s) => !s.passed).map((s) => s.stage);
    const missing = collected.unreadable.map((u) => u.stage);
    const reasons = [
      ...failed.map((s) => `stage ${s} said no`),
      ...collected.unreadable.map((u) => `stage ${u.stage}: ${u.problem}`),
    ];
    return {
      results: {
        REPORT_PATH: `${REPORTS_DIR}/${REPORT_STAGE}/index.html`,
        REPORT_DIGEST: `sha256:${createHash('sha256').update(html).digest('hex')}`,
        FAILED_STAGES: String(failed.length + missing.length),
      },
      gate: { passed: true, reasons },
      files: { 'index.html': html, 'summary.json': JSON.stringify({ run, stages: collected.stages.map(({ report: _report, ...s }) => s), unreadable: collected.unreadable }, null, 2) + '\n' },
      report: { stages: collected.stages.length, failed, missing },
    };
  },
};
