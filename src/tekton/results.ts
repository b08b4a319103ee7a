// Tekton's result semantics (pkg/entrypoint, pkg/termination, pkg/pod/status.go, taskrun validation):
// - A step writes result NAME to the file `$(results.NAME.path)`, i.e. <resultsDir>/NAME (Tekton: /tekton/results).
// - The value is the file's bytes, verbatim: Tekton does NOT trim a trailing newline (`echo sha > path` gives "sha\n";
//   write with `echo -n` or printf).
// - Array and object results are parsed like ParamValue.UnmarshalJSON: content starting with `[` that parses as an
//   array of strings is an array, `{` with string values an object; anything else is a string. A result whose parsed
//   type differs from its declared type fails the TaskRun ("Provided results don't match declared results; may be
//   invalid JSON or missing result declaration"), as does an object result missing a declared key.
// - Size: after each step, the step's termination message holds every result file present, as JSON
//   `[{"key":NAME,"value":VALUE,"type":1},...,{"key":"StartedAt","value":TIME,"type":3}]` (Go's json.Marshal, which
//   escapes <, > and &), and it must not exceed 4096 bytes: "Termination message is above max allowed size 4096,
//   caused by large task result." This is Tekton's default (results-from: termination-message); the
//   sidecar-logs mode with its larger max-result-size is not emulated.
// - A declared result that no step wrote is simply absent from the TaskRun; a consumer referencing it fails later.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VouchError, errorMessage } from '../common/errors.ts';
import { resultTypeOf } from './validate.ts';
import type { ParamValue, TaskResult, TaskRunResult } from './types.ts';

/** Where Tekton puts results in a step's container (pipeline.DefaultResultPath). */
export const TEKTON_RESULTS_DIR = '/tekton/results';
/** Kubernetes' per-container termination message limit, which bounds all results of a step. */
export const MAX_TERMINATION_MESSAGE_BYTES = 4096;

const TASK_RUN_RESULT_TYPE = 1;
const INTERNAL_TEKTON_RESULT_TYPE = 3;

/** Parses raw result text as Tekton's ParamValue.UnmarshalJSON does (never fails: unparsable text is a string). */
export function parseResultText(raw: string): ParamValue {
  if (raw.length === 0) return '';
  if (raw.startsWith('[')) {
    try {
      const a: unknown = JSON.parse(raw);
      if (Array.isArray(a) && a.every((x) => typeof x === 'string')) return a;
    } catch {
      // not JSON: a string
    }
  }
  if (raw.startsWith('{')) {
    try {
      const o: unknown = JSON.parse(raw);
      if (typeof o === 'object' && o !== null && !Array.isArray(o) && Object.values(o).every((x) => typeof x === 'string')) return o as Record<string, string>;
    } catch {
      // not JSON: a string
    }
  }
  return raw;
}

/**
 * The TaskRunResult for a declared result: a string result keeps the raw text; an array/object result is parsed
 * and must have the declared type and (objects) every declared key. Throws TEKTON_RESULT_INVALID naming the task
 * and the result.
 */
export function toTaskRunResult(raw: string, declared: TaskResult, taskName: string): TaskRunResult {
  const type = resultTypeOf(declared);
  if (type === 'string') return { name: declared.name, type: 'string', value: raw };
  const value = parseResultText(raw);
  const got = typeof value === 'string' ? 'string' : Array.isArray(value) ? 'array' : 'object';
  if (got !== type) {
    throw new VouchError(
      'TEKTON_RESULT_INVALID',
      `task "${taskName}": Provided results don't match declared results; may be invalid JSON or missing result declaration: "${declared.name}": declared ${type}, got ${got === 'string' ? 'text that is not a JSON ' + type + ' of strings' : got}`,
      { details: { task: taskName, result: declared.name } },
    );
  }
  if (type === 'object' && declared.properties) {
    const missing = Object.keys(declared.properties).filter((k) => !(k in (value as Record<string, string>)));
    if (missing.length) {
      throw new VouchError(
        'TEKTON_RESULT_INVALID',
        `task "${taskName}": missing keys for these results which are required in TaskResult's properties: "${declared.name}": [${missing.join(' ')}]`,
        { details: { task: taskName, result: declared.name, missing } },
      );
    }
  }
  return { name: declared.name, type, value };
}

/** JSON exactly as Go's encoding/json.Marshal writes it (HTML-safe escaping), so sizes match Tekton's. */
export function goJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Go's "2006-01-02T15:04:05.000Z07:00" in UTC, the entrypoint's StartedAt format. */
function startedAtText(d: Date): string {
  return d.toISOString();
}

/** The termination message a step would write: its results, then StartedAt (and ExitCode for a continued failure). */
export function terminationMessage(results: readonly { name: string; raw: string }[], startedAt: Date, exitCode?: number): string {
  const entries: { key: string; value: string; type: number }[] = results.map((r) => ({ key: r.name, value: r.raw, type: TASK_RUN_RESULT_TYPE }));
  entries.push({ key: 'StartedAt', value: startedAtText(startedAt), type: INTERNAL_TEKTON_RESULT_TYPE });
  if (exitCode !== undefined && exitCode !== 0) entries.push({ key: 'ExitCode', value: String(exitCode), type: INTERNAL_TEKTON_RESULT_TYPE });
  return goJson(entries);
}

export interface StepResultsOptions {
  /** pipeline task or TaskRun name, for messages */
  taskName: string;
  stepName: string;
  /** when the step started (it is part of the termination message, so of the size) */
  startedAt: Date;
  /** exit code of a failed step that continues (onError: continue); recorded like Tekton's ExitCode entry */
  exitCode?: number;
  /** defaults to MAX_TERMINATION_MESSAGE_BYTES */
  limitBytes?: number;
}

/**
 * Reads the declared results present in `dir` after a step, checks the step's termination message size and each
 * result's type, and returns them as TaskRunResults (declaration order). Missing files are skipped.
 */
export async function readStepResults(dir: string, declared: readonly TaskResult[] | undefined, o: StepResultsOptions): Promise<TaskRunResult[]> {
  const present: { decl: TaskResult; raw: string }[] = [];
  for (const decl of declared ?? []) {
    let raw: string;
    try {
      raw = await readFile(join(dir, decl.name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new VouchError('IO', `task "${o.taskName}": cannot read result "${decl.name}": ${errorMessage(err)}`, { cause: err });
    }
    present.push({ decl, raw });
  }
  const message = terminationMessage(present.map((p) => ({ name: p.decl.name, raw: p.raw })), o.startedAt, o.exitCode);
  const limit = o.limitBytes ?? MAX_TERMINATION_MESSAGE_BYTES;
  const size = Buffer.byteLength(message, 'utf8');
  if (size > limit) {
    const largest = [...present].sort((a, b) => b.raw.length - a.raw.length)[0];
    throw new VouchError(
      'TEKTON_RESULT_INVALID',
      `task "${o.taskName}" step "${o.stepName}": Termination message is above max allowed size ${limit}, caused by large task result (${size} bytes${largest ? `; largest result "${largest.decl.name}" is ${Buffer.byteLength(largest.raw)} bytes` : ''}). Pass large data through a workspace.`,
      { details: { task: o.taskName, step: o.stepName, size, limit } },
    );
  }
  return present.map((p) => toTaskRunResult(p.raw, p.decl, o.taskName));
}
