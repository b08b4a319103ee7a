// Gathers what the stages of one run left in the workspace (`.vouch/reports/<stage>/report.json`, written by the
// framework) into one summary for the reviewer's HTML report. Everything here was written by steps that ran on
// untrusted code, so it is read defensively: bounded size, shape-checked, and anything unreadable is listed as
// such rather than skipped silently. The report states facts from these files; it proves nothing (the signed
// evidence in the log does), and it says so.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../common/errors.ts';
import { REPORTS_DIR } from '../framework.ts';

/** A report.json larger than this is not read (a stage's own report is kilobytes; findings live in side files). */
export const MAX_STAGE_REPORT_BYTES = 4 * 1024 * 1024;

/** The parsed Konflux TEST_OUTPUT of a stage, when it wrote one. */
export interface TestOutputSummary {
  result: string;
  successes: number;
  failures: number;
  warnings: number;
  note: string;
}

export interface StageSummary {
  stage: string;
  passed: boolean;
  reasons: string[];
  timestamp?: string;
  results: Record<string, string>;
  testOutput?: TestOutputSummary;
  /** the whole report.json, for stage-specific sections */
  report: Record<string, unknown>;
}

export interface UnreadableReport {
  stage: string;
  problem: string;
}

export interface CollectedReports {
  stages: StageSummary[];
  unreadable: UnreadableReport[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringRecord(v: unknown): Record<string, string> {
  if (!isRecord(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, value] of Object.entries(v)) if (typeof value === 'string') out[k] = value;
  return out;
}

/** TEST_OUTPUT as Konflux writes it, or undefined when absent or not shaped like it. */
export function parseTestOutput(raw: string | undefined): TestOutputSummary | undefined {
  if (raw === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v['result'] !== 'string') return undefined;
  const count = (k: string): number => {
    const n = v[k];
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0;
  };
  return { result: v['result'], successes: count('successes'), failures: count('failures'), warnings: count('warnings'), note: typeof v['note'] === 'string' ? v['note'] : '' };
}

async function readStageReport(dir: string, stage: string): Promise<StageSummary | UnreadableReport> {
  const path = join(dir, stage, 'report.json');
  try {
    const info = await stat(path);
    if (!info.isFile()) return { stage, problem: 'report.json is not a regular file' };
    if (info.size > MAX_STAGE_REPORT_BYTES) return { stage, problem: `report.json is ${String(info.size)} bytes, above the ${String(MAX_STAGE_REPORT_BYTES)}-byte limit` };
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (!isRecord(parsed) || typeof parsed['passed'] !== 'boolean') return { stage, problem: 'report.json has no boolean "passed"' };
    const results = stringRecord(parsed['results']);
    const reasons = Array.isArray(parsed['reasons']) ? parsed['reasons'].filter((r): r is string => typeof r === 'string') : [];
    const testOutput = parseTestOutput(results['TEST_OUTPUT']);
    return {
      stage,
      passed: parsed['passed'],
      reasons,
      ...(typeof parsed['timestamp'] === 'string' ? { timestamp: parsed['timestamp'] } : {}),
      results,
      ...(testOutput ? { testOutput } : {}),
      report: parsed,
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { stage, problem: 'no report.json (the stage did not finish)' };
    return { stage, problem: `report.json cannot be read: ${errorMessage(err)}` };
  }
}

/** Every stage report under `<source>/.vouch/reports/`, sorted by stage name; `skip` names stages to leave out. */
export async function collectStageReports(source: string, skip: readonly string[] = []): Promise<CollectedReports> {
  const dir = join(source, REPORTS_DIR);
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { stages: [], unreadable: [] };
    throw err;
  }
  const stages: StageSummary[] = [];
  const unreadable: UnreadableReport[] = [];
  for (const name of names.sort()) {
    if (skip.includes(name)) continue;
    const r = await readStageReport(dir, name);
    if ('problem' in r) unreadable.push(r);
    else stages.push(r);
  }
  return { stages, unreadable };
}
