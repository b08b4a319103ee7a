// Stage `report` (the `finally` task of agent-pr-verify): one summary of the run for the people who read it, built
// from what Tekton says about each pipeline task (its execution status, passed in as params: authoritative) next to
// what each stage wrote in its report directory (.vouch/reports/<stage>/report.json). The stages' own reports live
// in the workspace a change under review can also write to, so they are shown as the stages' words, never used to
// overrule Tekton's status; the signed evidence is the sidecar's business, not this summary's.
// It always passes: a finally task that fails would only hide the summary of a run that failed.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VouchError } from '../../common/errors.ts';
import { REPORTS_DIR, type Stage, type StageContext, type StageOutcome } from '../framework.ts';

/** The values of `$(tasks.<name>.status)` and `$(tasks.status)`. */
const TASK_STATUSES = new Set(['Succeeded', 'Failed', 'None']);
const AGGREGATE_STATUSES = new Set(['Succeeded', 'Failed', 'Completed', 'None']);
/** a stage's report.json beyond this is not read (its verdict is summarised as unreadable) */
const MAX_REPORT_BYTES = 1024 * 1024;

export interface TaskSummary {
  task: string;
  /** Tekton's execution status of the pipeline task */
  status: string;
  /** the stage's own report, when it wrote one */
  report?: { passed: boolean | undefined; reasons: string[] } | { unreadable: string };
}

export interface RunSummary {
  aggregateStatus: string;
  tasks: TaskSummary[];
  failed: string[];
  skipped: string[];
}

/** Parses `name=Status name=Status ...` (whitespace separated, as the Pipeline's folded param gives it). */
export function parseTaskStatuses(text: string): { task: string; status: string }[] {
  const out: { task: string; status: string }[] = [];
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

async function readStageReport(source: string, task: string): Promise<TaskSummary['report']> {
  const file = join(source, REPORTS_DIR, task, 'report.json');
  if (!existsSync(file)) return undefined;
  const size = statSync(file).size;
  if (size > MAX_REPORT_BYTES) return { unreadable: `report.json is ${String(size)} bytes (limit ${String(MAX_REPORT_BYTES)})` };
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return { unreadable: 'report.json is not JSON' };
  }
  if (typeof doc !== 'object' || doc === null) return { unreadable: 'report.json is not an object' };
  const r = doc as { passed?: unknown; reasons?: unknown };
  return {
    passed: typeof r.passed === 'boolean' ? r.passed : undefined,
    reasons: Array.isArray(r.reasons) ? r.reasons.filter((x): x is string => typeof x === 'string').slice(0, 20) : [],
  };
}

export async function summarise(source: string, aggregateStatus: string, statuses: { task: string; status: string }[]): Promise<RunSummary> {
  const tasks: TaskSummary[] = [];
  for (const { task, status } of statuses) {
    const report = await readStageReport(source, task);
    tasks.push({ task, status, ...(report ? { report } : {}) });
  }
  return {
    aggregateStatus,
    tasks,
    failed: tasks.filter((t) => t.status === 'Failed').map((t) => t.task),
    skipped: tasks.filter((t) => t.status === 'None').map((t) => t.task),
  };
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ');

export function summaryMarkdown(s: RunSummary): string {
  const lines = [
    `# agent-pr-verify: ${s.aggregateStatus}`,
    '',
    s.failed.length ? `Failed: ${s.failed.join(', ')}.` : 'No task failed.',
    s.skipped.length ? `Not run: ${s.skipped.join(', ')}.` : '',
    '',
    '| task | Tekton status | the stage\'s report |',
    '|---|---|---|',
  ];
  for (const t of s.tasks) {
    let said = 'no report';
    if (t.report && 'unreadable' in t.report) said = `unreadable: ${t.report.unreadable}`;
    else if (t.report) said = `${t.report.passed === true ? 'passed' : t.report.passed === false ? 'failed' : '?'}${t.report.reasons.length ? `: ${t.report.reasons.join('; ')}` : ''}`;
    lines.push(`| ${cell(t.task)} | ${t.status} | ${cell(said)} |`);
  }
  return `${lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n')}\n`;
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const aggregate = ctx.params['aggregate-status'] ?? '';
  if (!AGGREGATE_STATUSES.has(aggregate)) throw new VouchError('STAGE_USAGE', `--aggregate-status: expected Succeeded, Failed, Completed or None, got ${JSON.stringify(aggregate)}`);
  const summary = await summarise(ctx.source, aggregate, parseTaskStatuses(ctx.params['task-statuses'] ?? ''));
  const line = `${aggregate}${summary.failed.length ? `; failed: ${summary.failed.join(', ')}` : ''}`;
  return {
    results: { summary: line },
    gate: { passed: true, reasons: summary.failed.map((t) => `${t} failed`) },
    files: { 'summary.json': `${JSON.stringify(summary, null, 2)}\n`, 'summary.md': summaryMarkdown(summary) },
    report: { aggregateStatus: aggregate, failed: summary.failed, skipped: summary.skipped },
  };
}

export const reportStage: Stage = {
  name: 'report',
  description: "summarise a PipelineRun: each task's Tekton status beside its stage's own report (summary.md, summary.json)",
  params: [
    { name: 'aggregate-status', description: 'the aggregate status of the pipeline tasks ($(tasks.status))', required: true },
    { name: 'task-statuses', description: 'name=Status pairs, whitespace separated ($(tasks.<name>.status) each)', required: true },
  ],
  results: [{ name: 'summary', description: 'one line: the aggregate status and the failed tasks' }],
  run,
};
