// SLSA provenance builds per second: Chains' pipelinerun1 fixture (2 children, deep inspection), and a larger
// PipelineRun (20 children of 5 steps, image and artifact hints in each), so the builder's share of the sidecar's
// PipelineRun-finished -> logged latency budget (p99 <= 50 ms) is known.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildPipelineRunProvenance, type PipelineRunLike, type TaskRunLike } from '../src/attest/provenance.ts';
import { rate, type Report } from './harness.ts';

const UNIT = fileURLToPath(new URL('../../shared/fixtures/chains/unit-inputs/slsa-v2alpha4/', import.meta.url));

function hex(i: number): string {
  return i.toString(16).padStart(64, '0');
}

function bigRun(children: number, steps: number): { pr: PipelineRunLike; trs: TaskRunLike[] } {
  const names = Array.from({ length: children }, (_, i) => `t${i}`);
  const trs = names.map((task, i): TaskRunLike => ({
    metadata: { name: `pr-${task}`, uid: `u${i}`, labels: { 'tekton.dev/pipelineTask': task, 'tekton.dev/pipelineRun': 'pr' } },
    spec: { params: [{ name: 'CHAINS-GIT_URL', value: 'https://git.example/repo' }, { name: 'CHAINS-GIT_COMMIT', value: hex(i).slice(0, 40) }], taskRef: { name: task } },
    status: {
      startTime: '2026-01-01T00:00:00Z',
      completionTime: '2026-01-01T00:01:00Z',
      steps: Array.from({ length: steps }, (_, s) => ({ name: `s${s}`, imageID: `registry.example/tools/s${s}@sha256:${hex(s)}`, results: [{ name: `r${s}`, value: 'x'.repeat(100) }] })),
      results: [
        { name: 'IMAGE_URL', value: `registry.example/app/${task}` },
        { name: 'IMAGE_DIGEST', value: `sha256:${hex(1000 + i)}` },
        { name: 'bin-ARTIFACT_OUTPUTS', value: { uri: `pkg:generic/${task}@1`, digest: `sha256:${hex(2000 + i)}`, isBuildArtifact: 'true' } },
        { name: 'report', value: { passed: '10', failed: '0' } },
      ],
      provenance: { refSource: { uri: 'git+https://git.example/tasks', digest: { sha1: hex(3000 + i).slice(0, 40) }, entryPoint: `${task}.yaml` } },
    },
  }));
  const pr: PipelineRunLike = {
    metadata: { name: 'pr', uid: 'u' },
    spec: { pipelineRef: { name: 'p' } },
    status: {
      startTime: '2026-01-01T00:00:00Z',
      completionTime: '2026-01-01T00:10:00Z',
      pipelineSpec: { tasks: names.map((name) => ({ name })) },
      childReferences: names.map((task) => ({ name: `pr-${task}`, pipelineTaskName: task, kind: 'TaskRun' })),
      results: [{ name: 'IMAGES', value: names.map((t, i) => `registry.example/app/${t}@sha256:${hex(1000 + i)}`).join(',') }],
    },
  };
  return { pr, trs };
}

export default async function bench(report: Report): Promise<void> {
  const G = 'provenance';
  const read = (f: string): TaskRunLike & PipelineRunLike => JSON.parse(readFileSync(UNIT + f, 'utf8')) as TaskRunLike & PipelineRunLike;
  const pr1 = read('pipelinerun1.json');
  const children = [read('taskrun1.json'), read('taskrun2.json')];
  report.row(G, 'Chains pipelinerun1 + 2 children, deep inspection', await rate(() => buildPipelineRunProvenance(pr1, children)), 'builds/s');
  const big = bigRun(20, 5);
  const perSecond = await rate(() => buildPipelineRunProvenance(big.pr, big.trs));
  report.row(G, '20 children x 5 steps, deep inspection', perSecond, 'builds/s', `${(1000 / perSecond).toFixed(2)} ms each`);
}
