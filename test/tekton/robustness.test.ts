// Every field of good documents replaced by a value of each other shape (or removed): validation must either accept
// or throw TEKTON_INVALID with positions, never crash with a TypeError on malformed input.

import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { isVouchError } from '../../src/common/errors.ts';
import { loadText, type Loaded } from '../../src/tekton/load.ts';
import type { Pipeline, PipelineRun, Task, TaskRun } from '../../src/tekton/types.ts';
import { validatePipeline, validatePipelineRun, validateTask, validateTaskRun } from '../../src/tekton/validate.ts';

const BUILD = readFileSync(new URL('./fixtures/tasks/build.yaml', import.meta.url), 'utf8');
const NOTIFY = readFileSync(new URL('./fixtures/tasks/notify.yaml', import.meta.url), 'utf8');
const GOOD = readFileSync(new URL('./fixtures/pipelines/good.yaml', import.meta.url), 'utf8');

type Json = unknown;
const REPLACEMENTS: Json[] = [null, 7, 'x', [], {}, true, ['$(params.nope[*])'], { a: 1 }];

function paths(v: Json, prefix: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => [[...prefix, i], ...paths(x, [...prefix, i])]);
  if (typeof v === 'object' && v !== null) return Object.entries(v).flatMap(([k, x]) => [[...prefix, k], ...paths(x, [...prefix, k])]);
  return [];
}

function mutate(doc: Loaded, path: (string | number)[], value: unknown): Loaded {
  const copy = structuredClone(doc.resource) as unknown as Record<string | number, Json>;
  let at: Record<string | number, Json> = copy;
  for (const seg of path.slice(0, -1)) at = at[seg] as Record<string | number, Json>;
  const last = path[path.length - 1]!;
  if (value === REMOVE) {
    if (Array.isArray(at)) at.splice(last as number, 1);
    else Reflect.deleteProperty(at, last);
  } else at[last] = value;
  return { ...doc, resource: copy as unknown as Loaded['resource'] };
}
const REMOVE = Symbol('remove');
const shown = (v: unknown): string => (v === REMOVE ? 'removed' : JSON.stringify(v));

function expectNoCrash(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (err) {
    if (!isVouchError(err, 'TEKTON_INVALID')) expect.fail(`${what}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }
}

describe('tekton/validate on malformed documents', function () {
  this.timeout(60_000);
  const tasks = new Map<string, Loaded<Task>>();
  for (const t of [...loadText(BUILD, 'build.yaml'), ...loadText(NOTIFY, 'notify.yaml')]) if (t.kind === 'Task') tasks.set((t.resource as Task).metadata.name!, t as Loaded<Task>);
  const resolve = (n: string): Loaded<Task> | undefined => tasks.get(n);

  it('never crashes on a mutated Task', () => {
    const doc = loadText(BUILD, 'build.yaml')[0]!;
    let rejected = 0;
    for (const p of paths(doc.resource)) {
      for (const v of [...REPLACEMENTS, REMOVE]) {
        const m = mutate(doc, p, v);
        expectNoCrash(() => validateTask(m as Loaded<Task>), `${p.join('.')} = ${shown(v)}`);
        try {
          validateTask(m as Loaded<Task>);
        } catch {
          rejected++;
        }
      }
    }
    expect(rejected).to.be.greaterThan(100);
  });

  it('never crashes on a mutated Pipeline', () => {
    const doc = loadText(GOOD, 'good.yaml')[0]!;
    for (const p of paths(doc.resource)) {
      for (const v of [...REPLACEMENTS, REMOVE]) {
        expectNoCrash(() => validatePipeline(mutate(doc, p, v) as Loaded<Pipeline>, resolve), `${p.join('.')} = ${shown(v)}`);
      }
    }
  });

  it('never crashes on a mutated PipelineRun with an embedded pipelineSpec', () => {
    const p = loadText(GOOD, 'good.yaml')[0]!.resource as Pipeline;
    const run: PipelineRun = {
      apiVersion: 'tekton.dev/v1',
      kind: 'PipelineRun',
      metadata: { generateName: 'r-' },
      spec: { pipelineSpec: p.spec, params: [{ name: 'target', value: 'x' }], workspaces: [{ name: 'src', emptyDir: {} }], timeouts: { pipeline: '1h' } },
    };
    const doc: Loaded = { ...loadText(GOOD, 'good.yaml')[0]!, kind: 'PipelineRun', resource: run };
    expect(() => validatePipelineRun(doc as Loaded<PipelineRun>, { resolveTask: resolve })).to.not.throw();
    for (const path of paths(run)) {
      for (const v of [...REPLACEMENTS, REMOVE]) {
        expectNoCrash(() => validatePipelineRun(mutate(doc, path, v) as Loaded<PipelineRun>, { resolveTask: resolve }), `${path.join('.')} = ${shown(v)}`);
      }
    }
  });

  it('never crashes on a mutated TaskRun (taskRef and embedded taskSpec)', () => {
    const build = tasks.get('build')!.resource;
    const runs: TaskRun[] = [
      { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r' }, spec: { taskRef: { name: 'build' }, params: [{ name: 'target', value: 't' }], workspaces: [{ name: 'source', emptyDir: {} }], timeout: '1h' } },
      { apiVersion: 'tekton.dev/v1', kind: 'TaskRun', metadata: { name: 'r' }, spec: { taskSpec: build.spec, params: [{ name: 'target', value: 't' }], workspaces: [{ name: 'source', emptyDir: {} }] } },
    ];
    for (const run of runs) {
      const doc: Loaded = { ...loadText(BUILD, 'build.yaml')[0]!, kind: 'TaskRun', resource: run };
      expect(() => validateTaskRun(doc as Loaded<TaskRun>, resolve)).to.not.throw();
      for (const path of paths(run)) {
        for (const v of [...REPLACEMENTS, REMOVE]) {
          expectNoCrash(() => validateTaskRun(mutate(doc, path, v) as Loaded<TaskRun>, resolve), `${path.join('.')} = ${shown(v)}`);
        }
      }
    }
  });
});
