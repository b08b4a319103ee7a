// The DAG of a Pipeline's tasks, as Tekton builds it (pkg/reconciler/pipeline/dag): an edge for every `runAfter`
// entry and for every result reference `$(tasks.T.results.R)` in params, matrix or when expressions. We also count
// result references inside an embedded taskSpec's steps, since the task cannot run before T has produced them.
// `finally` tasks are not part of the DAG: they run once every DAG task is done (finished, failed or skipped).

import { referencesIn } from './substitute.ts';
import type { PipelineTask } from './types.ts';

export interface Dag {
  /** task names in declaration order */
  readonly names: readonly string[];
  /** task -> the tasks it waits for */
  readonly parents: ReadonlyMap<string, ReadonlySet<string>>;
  /** task -> the tasks that wait for it */
  readonly children: ReadonlyMap<string, ReadonlySet<string>>;
}

/** The tasks a pipeline task depends on: runAfter plus every `tasks.T.results` reference, deduplicated. */
export function dependenciesOf(pt: PipelineTask): string[] {
  const deps = new Set<string>(pt.runAfter ?? []);
  for (const ref of referencesIn(pt)) if (ref.kind === 'taskResult' && ref.scope === 'tasks') deps.add(ref.task);
  return [...deps];
}

/**
 * Builds the graph. Dependencies on names that are not tasks of this list are left out here (validation reports
 * them); a cycle is returned by findCycle rather than thrown, so validation can name it with the file position.
 */
export function buildDag(tasks: readonly PipelineTask[]): Dag {
  const names = tasks.map((t) => t.name);
  const known = new Set(names);
  const parents = new Map<string, Set<string>>();
  const children = new Map<string, Set<string>>();
  for (const n of names) {
    parents.set(n, new Set());
    children.set(n, new Set());
  }
  for (const t of tasks) {
    for (const d of dependenciesOf(t)) {
      if (!known.has(d)) continue;
      parents.get(t.name)!.add(d);
      children.get(d)!.add(t.name);
    }
  }
  return { names, parents, children };
}

/** A dependency cycle as a "depends on" chain that starts and ends with the same task ([a, b, a]: a needs b needs a). */
export function findCycle(dag: Dag): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    state.set(n, 'visiting');
    stack.push(n);
    for (const p of [...(dag.parents.get(n) ?? [])].sort()) {
      const s = state.get(p);
      if (s === 'visiting') {
        // the stack is a chain of "depends on" from p's position to n, and n depends on p again
        const from = stack.indexOf(p);
        return [...stack.slice(from), p];
      }
      if (s === undefined) {
        const c = visit(p);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of dag.names) {
    if (state.get(n) === undefined) {
      const c = visit(n);
      if (c) return c;
    }
  }
  return undefined;
}

/**
 * Tasks that can start now: not yet started, and every parent is in `done` (done means finished in any way; the
 * caller decides separately whether a failed or skipped parent skips the child, as Tekton does).
 */
export function readyTasks(dag: Dag, done: ReadonlySet<string>, started: ReadonlySet<string>): string[] {
  return dag.names.filter((n) => !started.has(n) && !done.has(n) && [...(dag.parents.get(n) ?? [])].every((p) => done.has(p)));
}

/** All tasks that (transitively) depend on `name`, e.g. to skip them when it is skipped or fails. */
export function descendants(dag: Dag, name: string): string[] {
  const seen = new Set<string>();
  const walk = (n: string): void => {
    for (const c of dag.children.get(n) ?? []) {
      if (!seen.has(c)) {
        seen.add(c);
        walk(c);
      }
    }
  };
  walk(name);
  return dag.names.filter((n) => seen.has(n));
}

/** A topological order (declaration order among tasks that are ready together); assumes no cycle. */
export function topologicalOrder(dag: Dag): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  for (;;) {
    const ready = readyTasks(dag, done, new Set());
    if (ready.length === 0) break;
    for (const r of ready) {
      done.add(r);
      order.push(r);
    }
  }
  return order;
}
