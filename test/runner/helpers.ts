import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPipeline, type RunOutcome } from '../../src/runner/executor.ts';
import { planRun, type PlanInput } from '../../src/runner/plan.ts';
import { cloudEventFor, type EventSink } from '../../src/runner/events.ts';
import type { RunView, TransitionRecord } from '../../src/runner/view.ts';
import type { TaskRun } from '../../src/tekton/types.ts';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const HOST_IMAGES = ['docker.io/library/busybox*'];

export class RecordingView implements RunView {
  readonly records: TransitionRecord[] = [];
  transition(r: TransitionRecord): void {
    this.records.push(r);
  }
  close(): void {
    // nothing to flush
  }
}

export interface TestRun extends RunOutcome {
  runDir: string;
  view: RecordingView;
  taskRun(pipelineTask: string): TaskRun;
  log(pipelineTask: string, step: string): string;
}

/** Plans and runs a fixture pipeline in-process, sandboxed, with the given sinks. */
export async function runFixture(
  file: string,
  runDir: string,
  options: Partial<PlanInput> & { sinks?: EventSink[]; signal?: AbortSignal; hostImages?: string[]; allowNetwork?: string[]; pipelineRun?: boolean } = {},
): Promise<TestRun> {
  const { sinks, signal, hostImages, allowNetwork, pipelineRun, ...plan } = options;
  const input: PlanInput = { tasksDir: join(FIXTURES, 'tasks'), ...plan };
  if (pipelineRun) input.pipelineRunFile = join(FIXTURES, file);
  else if (plan.pipelineName === undefined) input.pipelineFile = join(FIXTURES, file);
  const p = await planRun(input);
  const view = new RecordingView();
  const outcome = await runPipeline({
    pipelineRun: p.pipelineRun,
    pipeline: p.validated.pipeline,
    pipelineName: p.pipelineName,
    ...(p.validated.pipelineSource ? { pipelineFile: p.validated.pipelineSource.file } : {}),
    runDir,
    workspaceDirs: p.workspaceDirs,
    images: { taskImage: 'ghcr.io/vouch-dev/vouch', hostImages: hostImages ?? HOST_IMAGES },
    allowNetwork: allowNetwork ?? [],
    sandbox: { enabled: true },
    sinks: sinks ?? [],
    eventFactory: cloudEventFor,
    view,
    ...(signal ? { signal } : {}),
    eventDrainMs: 5000,
  });
  return {
    ...outcome,
    runDir,
    view,
    taskRun(pipelineTask: string): TaskRun {
      const tr = outcome.taskRuns.find((t) => t.metadata.labels?.['tekton.dev/pipelineTask'] === pipelineTask);
      if (!tr) throw new Error(`no TaskRun for ${pipelineTask}`);
      return tr;
    },
    log(pipelineTask: string, step: string): string {
      return readFileSync(join(runDir, 'logs', pipelineTask, `${step}.log`), 'utf8');
    },
  };
}
