// vouch run against running the same commands bare: a 3-wide, 3-deep pipeline of short steps (goal: ≤ 1.1× with the
// sandbox on), and the overhead per step (a task of many no-op steps against the same spawns bare).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPipeline } from '../src/runner/executor.ts';
import { planRun } from '../src/runner/plan.ts';
import type { Report } from './harness.ts';

const IMAGE = 'docker.io/library/busybox:1.36';

function sh(script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => {
      resolve();
    });
  });
}

function gridPipeline(width: number, depth: number, script: string): string {
  const tasks: string[] = [];
  for (let d = 0; d < depth; d++) {
    for (let w = 0; w < width; w++) {
      const runAfter = d === 0 ? '' : `\n      runAfter: [${Array.from({ length: width }, (_, i) => `t${d - 1}-${i}`).join(', ')}]`;
      tasks.push(`    - name: t${d}-${w}${runAfter}
      taskSpec:
        steps:
          - name: s
            image: ${IMAGE}
            script: ${JSON.stringify(script)}`);
    }
  }
  return `apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: grid\nspec:\n  tasks:\n${tasks.join('\n')}\n`;
}

function stepsPipeline(n: number): string {
  const steps = Array.from({ length: n }, (_, i) => `          - name: s${i}\n            image: ${IMAGE}\n            script: "true"`).join('\n');
  return `apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata:\n  name: steps\nspec:\n  tasks:\n    - name: many\n      taskSpec:\n        steps:\n${steps}\n`;
}

async function runLocal(dir: string, yaml: string, sandbox: boolean): Promise<number> {
  const file = join(dir, `p-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  const plan = await planRun({ pipelineFile: file, tasksDir: dir });
  const start = performance.now();
  const outcome = await runPipeline({
    pipelineRun: plan.pipelineRun,
    pipeline: plan.validated.pipeline,
    pipelineName: plan.pipelineName,
    runDir: join(dir, plan.pipelineRun.metadata.name!),
    images: { taskImage: 'ghcr.io/vouch-dev/vouch', hostImages: ['docker.io/library/busybox*'] },
    sandbox: { enabled: sandbox },
  });
  const ms = performance.now() - start;
  if (!outcome.succeeded) throw new Error('benchmark pipeline failed');
  return ms;
}

async function bareGrid(width: number, depth: number, script: string): Promise<number> {
  const start = performance.now();
  for (let d = 0; d < depth; d++) await Promise.all(Array.from({ length: width }, () => sh(script)));
  return performance.now() - start;
}

// the best of several interleaved runs: other processes on a shared machine only ever add time
function best(xs: number[]): number {
  return Math.min(...xs);
}

export default async function bench(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-runner-'));
  try {
    for (const stepSeconds of [0.2, 0.05]) {
      const script = `sleep ${stepSeconds}`;
      const yaml = gridPipeline(3, 3, script);
      const bare: number[] = [];
      const sandboxed: number[] = [];
      const plain: number[] = [];
      await runLocal(dir, yaml, true); // warm caches
      for (let i = 0; i < 15; i++) {
        bare.push(await bareGrid(3, 3, script));
        sandboxed.push(await runLocal(dir, yaml, true));
        plain.push(await runLocal(dir, yaml, false));
      }
      const b = best(bare);
      const s = best(sandboxed);
      const group = `runner 3x3 grid, ${stepSeconds * 1000} ms steps`;
      report.row(group, 'bare commands, same order', b, 'ms');
      report.row(group, 'vouch run, sandbox on', s, 'ms');
      report.row(group, 'vouch run, --no-sandbox', best(plain), 'ms');
      report.row(group, 'sandboxed / bare', s / b, 'x', 'goal <= 1.1');
    }
    const n = 30;
    const bareSteps: number[] = [];
    const runSteps: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      for (let k = 0; k < n; k++) await sh('true');
      bareSteps.push(performance.now() - start);
      runSteps.push(await runLocal(dir, stepsPipeline(n), true));
    }
    report.row('runner per step', 'overhead per step (sandbox on)', (best(runSteps) - best(bareSteps)) / n, 'ms', `${n} no-op steps in one task vs ${n} bare spawns`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
