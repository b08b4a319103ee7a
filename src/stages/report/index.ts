// Stage `report` (the `finally` task of agent-pr-verify): one summary of the run for the people who read it.
// Tekton's execution status of each pipeline task (passed in as params, so it is Tekton's word) stands beside what
// each stage wrote in its report directory (.vouch/reports/<stage>/report.json). The stages' reports live in the
// workspace that the change under review can also write to, so they are shown as the stages' words and never
// overrule Tekton's status; the signed evidence is the sidecar's business, not this page's.
// Output: index.html (html.ts, the reviewer's page), summary.md (for a terminal or a PR comment), summary.json.
// It always passes: a finally task that fails would only hide the summary of a run that failed. The provenance
// graph and the admission verdict are added by `vouch report` (src/cli/report.ts), which reads the signed statements.

import { createHash } from 'node:crypto';
import { VouchError } from '../../common/errors.ts';
import { REPORTS_DIR, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { collectStageReports, type StageSummary, type UnreadableReport } from './collect.ts';
import { renderRunReport, type RunInfo } from './html.ts';

export const REPORT_STAGE = 'report';

/** The values of `$(tasks.<name>.status)` and `$(tasks.status)`. */
const TASK_STATUSES = new Set(['Succeeded', 'Failed', 'None']);
const AGGREGATE_STATUSES = new Set(['Succeeded', 'Failed', 'Completed', 'None']);

export interface TaskStatus {
  task: string;
  /** Tekton's execution status of the pipeline task */
  status: string;
}

/** Parses `name=Status name=Status ...` (whitespace separated, as the Pipeline's folded param gives it). */
export function parseTaskStatuses(text: string): TaskStatus[] {
  const out: TaskStatus[] = [];
  for (const pair of text.split(/\s+/).filter((s) => s !== '')) {
    const eq = pair.indexOf('=');
    const task = pair.slice(0, eq);
    const status = pair.slice(eq + 1);
    if (eq <= 0 || !TASK_STATUSES.has(status)) {
      throw new VouchError('STAGE_USAGE', `--task-statuses: expected name=Succeeded|Failed|None pairs, got ${JSON.stringify(pair)}`);
    }
    if (out.some((t) => t.task === task)) throw new VouchError('STAGE_USAGE', `--task-statuses: ${task} given twice`);
    out.push({ task, status });
  }
  return out;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

/** The stage's own verdict in words, for the summary. */
function said(report: StageSummary | undefined, unreadable: UnreadableReport | undefined): string {
  if (unreadable) return `unreadable: ${unreadable.problem}`;
  if (!report) return 'no report';
  return `${report.passed ? 'passed' : 'failed'}${report.reasons.length ? `: ${report.reasons.slice(0, 20).join('; ')}` : ''}`;
}

export function summaryMarkdown(aggregate: string, statuses: readonly TaskStatus[], stages: readonly StageSummary[], unreadable: readonly UnreadableReport[]): string {
  const failed = statuses.filter((t) => t.status === 'Failed').map((t) => t.task);
  const skipped = statuses.filter((t) => t.status === 'None').map((t) => t.task);
  const names = [...statuses.map((t) => t.task), ...[...stages.map((s) => s.stage), ...unreadable.map((u) => u.stage)].filter((n) => !statuses.some((t) => t.task === n))];
  const lines = [
    `# agent-pr-verify: ${aggregate || 'status unknown'}`,
    '',
    failed.length ? `Failed: ${failed.join(', ')}.` : 'No task failed.',
    skipped.length ? `Not run: ${skipped.join(', ')}.` : '',
    '',
    "| task | Tekton status | the stage's report |",
    '|---|---|---|',
  ];
  for (const name of names) {
    const status = statuses.find((t) => t.task === name)?.status ?? '';
    lines.push(`| ${cell(name)} | ${status} | ${cell(said(stages.find((s) => s.stage === name), unreadable.find((u) => u.stage === name)))} |`);
  }
  return `${lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n')}\n`;
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const p = ctx.params;
  const aggregate = p['aggregate-status'] ?? '';
  if (aggregate !== '' && !AGGREGATE_STATUSES.has(aggregate)) {
    throw new VouchError('STAGE_USAGE', `--aggregate-status: expected Succeeded, Failed, Completed or None, got ${JSON.stringify(aggregate)}`);
  }
  const statuses = parseTaskStatuses(p['task-statuses'] ?? '');
  const collected = await collectStageReports(ctx.source, [REPORT_STAGE]);
  const info: RunInfo = {
    ...(p['pipeline-run'] ? { pipelineRun: p['pipeline-run'] } : {}),
    ...(aggregate ? { status: aggregate } : {}),
    ...(p['repo-url'] ? { repository: p['repo-url'] } : {}),
    ...(p['pr-number'] ? { pullRequest: p['pr-number'] } : {}),
    ...(p['base-revision'] ? { baseRevision: p['base-revision'] } : {}),
    ...(p['head-revision'] ? { headRevision: p['head-revision'] } : {}),
  };
  const html = renderRunReport({ generatedAt: ctx.now, run: info, taskStatuses: statuses, stages: collected.stages, unreadable: collected.unreadable });
  // Tekton's word where it was given; otherwise the stages' own
  const failed = statuses.length
    ? statuses.filter((t) => t.status === 'Failed').map((t) => t.task)
    : [...collected.stages.filter((s) => !s.passed).map((s) => s.stage), ...collected.unreadable.map((u) => u.stage)];
  const skipped = statuses.filter((t) => t.status === 'None').map((t) => t.task);
  const summary = `${aggregate || 'status unknown'}${failed.length ? `; failed: ${failed.join(', ')}` : ''}`;
  return {
    results: {
      summary,
      REPORT_PATH: `${REPORTS_DIR}/${REPORT_STAGE}/index.html`,
      REPORT_DIGEST: `sha256:${createHash('sha256').update(html).digest('hex')}`,
      FAILED_STAGES: String(failed.length),
    },
    gate: { passed: true, reasons: failed.map((t) => `${t} failed`) },
    files: {
      'index.html': html,
      'summary.md': summaryMarkdown(aggregate, statuses, collected.stages, collected.unreadable),
      'summary.json': `${JSON.stringify({ run: info, aggregateStatus: aggregate, failed, skipped, taskStatuses: statuses, stages: collected.stages.map(({ report: _report, ...s }) => s), unreadable: collected.unreadable }, null, 2)}\n`,
    },
    report: { aggregateStatus: aggregate, failed, skipped },
  };
}

export const reportStage: Stage = {
  name: REPORT_STAGE,
  description: "summarise a PipelineRun for its reviewer: each task's Tekton status beside its stage's own report (index.html, summary.md, summary.json)",
  params: [
    { name: 'aggregate-status', description: 'the aggregate status of the pipeline tasks ($(tasks.status))', default: '' },
    { name: 'task-statuses', description: 'name=Status pairs, whitespace separated ($(tasks.<name>.status) each)', default: '' },
    { name: 'pipeline-run', description: 'the PipelineRun name ($(context.pipelineRun.name))', default: '' },
    { name: 'repo-url', description: 'the repository of the change', default: '' },
    { name: 'pr-number', description: 'the pull request number', default: '' },
    { name: 'base-revision', description: 'the base commit of the change', default: '' },
    { name: 'head-revision', description: 'the head commit of the change', default: '' },
  ],
  results: [
    { name: 'summary', description: 'one line: the aggregate status and the failed tasks' },
    { name: 'REPORT_PATH', description: 'the HTML report, relative to the source workspace' },
    { name: 'REPORT_DIGEST', description: 'sha256:<hex> of the HTML report' },
    { name: 'FAILED_STAGES', description: "number of failed tasks (Tekton's statuses when given, else the stages' reports)" },
  ],
  run,
};
