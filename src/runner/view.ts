// What a person or a program sees while a run goes: `--json` writes one JSON record per transition on stdout; on a
// terminal a live task tree (state, duration, the failing step's log tail) is redrawn in place; anywhere else one
// plain line per transition. The executor only reports transitions; it does not know which view is listening.
import { readFileSync } from 'node:fs';

export type TaskState = 'pending' | 'running' | 'retrying' | 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'timedout';

/** One transition of a PipelineRun or TaskRun, or a pipeline task being skipped (no TaskRun, as in Tekton). */
export interface TransitionRecord {
  time: string;
  kind: 'PipelineRun' | 'TaskRun' | 'SkippedTask';
  name: string;
  pipelineTask?: string;
  finally?: boolean;
  state: TaskState;
  /** Tekton condition status and reason (or the skipping reason) */
  status?: 'True' | 'False' | 'Unknown';
  reason: string;
  message?: string;
  startTime?: string;
  completionTime?: string;
  durationMs?: number;
  retry?: number;
  /** CloudEvent type sent for this transition, if any */
  event?: string;
  /** log file of the step that failed (TaskRun failures) */
  failedStepLog?: string;
}

export interface RunView {
  transition(record: TransitionRecord): void;
  /** live output of a running step (only views that show it implement this; others keep steps writing to files) */
  output?(pipelineTask: string, step: string, chunk: string): void;
  /** all pipeline tasks in display order, before anything runs */
  plan?(tasks: { name: string; finally: boolean; runAfter: string[] }[]): void;
  close(): void;
}

export class JsonView implements RunView {
  readonly #write: (s: string) => void;
  constructor(write: (s: string) => void = (s) => process.stdout.write(s)) {
    this.#write = write;
  }
  transition(record: TransitionRecord): void {
    this.#write(`${JSON.stringify(record)}\n`);
  }
  close(): void {
    // nothing buffered
  }
}

const SYMBOL: Record<TaskState, string> = {
  pending: '·',
  running: '▶',
  retrying: '↻',
  succeeded: '✔',
  failed: '✘',
  skipped: '↷',
  cancelled: '■',
  timedout: '⏱',
};

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** The last `n` lines of a log file, for showing why a step failed. */
export function logTail(file: string, n = 20): string[] {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  } catch {
    return [];
  }
}

// a step's output must not move the view's cursor or recolour the screen
const CONTROL = new RegExp(`[${String.fromCharCode(0)}-${String.fromCharCode(31)}${String.fromCharCode(127)}]`, 'g');
function stripControl(s: string): string {
  return s.replace(CONTROL, ' ');
}

/** One line per transition, for logs and non-terminal output (stderr keeps stdout for --json consumers). */
export class PlainView implements RunView {
  readonly #write: (s: string) => void;
  constructor(write: (s: string) => void = (s) => process.stderr.write(s)) {
    this.#write = write;
  }
  transition(r: TransitionRecord): void {
    const what = r.kind === 'PipelineRun' ? `pipelinerun ${r.name}` : `${r.finally ? 'finally ' : ''}task ${r.pipelineTask ?? r.name}`;
    const took = r.durationMs === undefined ? '' : ` (${formatDuration(r.durationMs)})`;
    const why = r.message ? `: ${r.message}` : '';
    this.#write(`${SYMBOL[r.state]} ${what} ${r.reason}${took}${why}\n`);
    if (r.failedStepLog && r.state !== 'retrying') {
      for (const line of logTail(r.failedStepLog)) this.#write(`    │ ${line}\n`);
    }
  }
  close(): void {
    // nothing buffered
  }
}

interface Row {
  name: string;
  finally: boolean;
  state: TaskState;
  reason: string;
  started?: number;
  ended?: number;
  retry?: number;
  /** the last line a running step printed */
  lastLine?: string;
}

/** A task tree redrawn in place on a terminal, with running durations ticking and failing logs below. */
export class TerminalView implements RunView {
  readonly #out: NodeJS.WriteStream;
  readonly #rows = new Map<string, Row>();
  #header = '';
  #drawn = 0;
  readonly #failures: string[] = [];
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#timer = setInterval(() => {
      this.#draw();
    }, 500);
    this.#timer.unref();
  }

  plan(tasks: { name: string; finally: boolean }[]): void {
    for (const t of tasks) this.#rows.set(t.name, { name: t.name, finally: t.finally, state: 'pending', reason: '' });
    this.#draw();
  }

  transition(r: TransitionRecord): void {
    if (r.kind === 'PipelineRun') {
      this.#header = `pipelinerun ${r.name}: ${r.reason}${r.message ? ` (${r.message})` : ''}`;
    } else if (r.pipelineTask) {
      const row = this.#rows.get(r.pipelineTask) ?? { name: r.pipelineTask, finally: r.finally ?? false, state: 'pending', reason: '' };
      row.state = r.state;
      row.reason = r.reason;
      if (r.retry !== undefined) row.retry = r.retry;
      // records carry Tekton's second-precision times; the view measures itself
      if (r.state === 'running' && row.started === undefined) row.started = Date.now();
      if (['succeeded', 'failed', 'skipped', 'cancelled', 'timedout'].includes(r.state)) row.ended = Date.now();
      this.#rows.set(r.pipelineTask, row);
      if (r.failedStepLog && r.state !== 'retrying') {
        this.#failures.push(`── ${r.pipelineTask}: ${r.message ?? r.reason}`, ...logTail(r.failedStepLog).map((l) => `   │ ${stripControl(l)}`));
      }
    }
    this.#draw();
  }

  output(pipelineTask: string, step: string, chunk: string): void {
    const row = this.#rows.get(pipelineTask);
    if (!row) return;
    const last = chunk.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '').at(-1);
    // control characters from a step must not move our cursor
    if (last !== undefined) row.lastLine = `${step}: ${stripControl(last)}`;
  }

  #draw(): void {
    const width = Math.max((this.#out.columns || 100) - 1, 40);
    const lines = [this.#header.slice(0, width)];
    for (const row of this.#rows.values()) {
      const took = row.started === undefined ? '' : ` ${formatDuration((row.ended ?? Date.now()) - row.started)}`;
      const retry = row.retry ? ` (retry ${row.retry})` : '';
      const tail = row.state === 'running' && row.lastLine ? `  │ ${row.lastLine}` : '';
      lines.push(`  ${row.finally ? 'finally ' : ''}${SYMBOL[row.state]} ${row.name}  ${row.reason}${retry}${took}${tail}`.slice(0, width));
    }
    let s = this.#drawn > 0 ? `\x1b[${this.#drawn}F\x1b[J` : '';
    s += `${lines.join('\n')}\n`;
    this.#out.write(s);
    this.#drawn = lines.length;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#draw();
    if (this.#failures.length > 0) this.#out.write(`${this.#failures.join('\n')}\n`);
  }
}
