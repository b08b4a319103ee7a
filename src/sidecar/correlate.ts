// Correlation of Tekton run events into PipelineRuns that are ready to attest. Pure in-memory state, fed in journal
// order (live after each event is durable, and again on replay after a restart), so it must decide the same way both
// times: no clocks here except the `at` stored with each event.
//
// Rules (shared/notes/tekton-chains.md: no ordering, duplicates, payloads are hints):
// - a duplicate (same CloudEvent id, or the same object uid + state) changes nothing;
// - an object's first terminal state (successful/failed) wins: a later `started`, or a different terminal state, is
//   ignored (the latter logged as suspect);
// - a TaskRun belongs to the PipelineRun named by its `tekton.dev/pipelineRunUID` label or PipelineRun
//   ownerReference; when both are present they must agree, and its `tekton.dev/pipelineRun` label must match the
//   PipelineRun's name and namespace;
// - a PipelineRun is ready once it is terminal and every TaskRun in its childReferences is known and terminal; a
//   TaskRun claiming a PipelineRun whose childReferences do not list it is dropped as forged;
// - failed PipelineRuns are attested only with attestFailedRuns (Chains users complain about attested failures);
// - runs wait bounded in number (the caller answers 503 beyond it) and age (expire()).
import type { Logger } from '../common/log.ts';
import type { PipelineRun, TaskRun } from '../tekton/types.ts';

export type RunState = 'queued' | 'started' | 'running' | 'unknown' | 'successful' | 'failed';
export const TERMINAL: readonly RunState[] = ['successful', 'failed'];

/** An accepted event as the inbox keeps it. */
export interface InboxEvent {
  /** CloudEvent id */
  id: string;
  kind: 'TaskRun' | 'PipelineRun';
  uid: string;
  state: RunState;
  /** when it was accepted (ms since epoch) */
  at: number;
  /** the run as tekton.dev/v1 (converted from the v1beta1 payload) */
  obj: TaskRun | PipelineRun;
}

/** A PipelineRun ready to be attested, with the TaskRuns its childReferences name. */
export interface ReadyRun {
  prUid: string;
  pipelineRun: PipelineRun;
  taskRuns: TaskRun[];
}

export type Verdict =
  | { verdict: 'accept'; group: string }
  | { verdict: 'duplicate'; reason: string }
  | { verdict: 'ignored'; reason: string };

interface Group {
  prUid: string;
  pr?: PipelineRun;
  prState?: RunState;
  /** terminal TaskRuns claiming this PipelineRun, by name */
  children: Map<string, TaskRun>;
  firstAt: number;
  eventIds: string[];
  uids: Set<string>;
  /** what was applied, for compaction (non-terminal events keep only the metadata correlation reads) */
  events: InboxEvent[];
}

export interface CorrelatorOptions {
  attestFailedRuns: boolean;
  log: Logger;
  /** called for each waiting TaskRun dropped as forged when its PipelineRun shows up (live only, not on replay) */
  onForged?: () => void;
}

const LABEL_PR = 'tekton.dev/pipelineRun';
const LABEL_PR_UID = 'tekton.dev/pipelineRunUID';

/** The PipelineRun uid a TaskRun claims, or a reason why its claim is inconsistent. */
export function parentOf(tr: TaskRun): { uid: string } | { none: true } | { forged: string } {
  const labelUid = tr.metadata.labels?.[LABEL_PR_UID];
  const owners = (tr.metadata.ownerReferences ?? []).filter((o) => o.kind === 'PipelineRun');
  const ownerUids = [...new Set(owners.map((o) => o.uid))];
  if (ownerUids.length > 1) return { forged: `owned by several PipelineRuns (${ownerUids.join(', ')})` };
  const ownerUid = ownerUids[0];
  if (labelUid && ownerUid && labelUid !== ownerUid) return { forged: `label ${LABEL_PR_UID}=${labelUid} disagrees with its ownerReference ${ownerUid}` };
  const labelName = tr.metadata.labels?.[LABEL_PR];
  const owner = owners[0];
  if (labelName && owner && owner.name !== labelName) return { forged: `label ${LABEL_PR}=${labelName} disagrees with its ownerReference ${owner.name}` };
  const uid = labelUid ?? ownerUid;
  return uid ? { uid } : { none: true };
}

export class Correlator {
  private readonly opts: CorrelatorOptions;
  private readonly groups = new Map<string, Group>();
  /** PipelineRun uid -> how it ended here: attested, or why not; kept for good so late events change nothing */
  private readonly finished = new Map<string, string>();
  private readonly seenIds = new Set<string>();
  /** object uid -> its first terminal state, or its latest non-terminal one */
  private readonly states = new Map<string, RunState>();
  /** groups handed out as ready and not yet finished */
  private readonly handedOut = new Set<string>();

  constructor(opts: CorrelatorOptions) {
    this.opts = opts;
  }

  private heldEvents = 0;

  /** unfinished PipelineRuns held (with their events) */
  get waitingRuns(): number {
    return this.groups.size;
  }

  /** events of unfinished PipelineRuns held: the inbox depth */
  get waitingEvents(): number {
    return this.heldEvents;
  }

  isFinished(prUid: string): boolean {
    return this.finished.has(prUid);
  }

  /** Whether an event would change anything, without changing anything. */
  classify(ev: Omit<InboxEvent, 'at'>): Verdict {
    if (this.seenIds.has(ev.id)) return { verdict: 'duplicate', reason: 'same CloudEvent id' };
    const group = this.groupOf(ev);
    if ('ignored' in group) return { verdict: 'ignored', reason: group.ignored };
    if (this.finished.has(group.uid)) return { verdict: 'duplicate', reason: `PipelineRun ${group.uid} is already ${this.finished.get(group.uid) ?? ''}` };
    const prev = this.states.get(ev.uid);
    if (prev === ev.state) return { verdict: 'duplicate', reason: `same uid and state (${ev.state})` };
    if (prev && TERMINAL.includes(prev)) {
      if (TERMINAL.includes(ev.state)) return { verdict: 'ignored', reason: `${ev.kind} ${ev.uid} already ended ${prev}; a later ${ev.state} is suspect` };
      return { verdict: 'ignored', reason: `${ev.state} after ${prev}` };
    }
    if (ev.kind === 'TaskRun' && TERMINAL.includes(ev.state)) {
      const g = this.groups.get(group.uid);
      const why = g?.pr ? this.notAChild(g.pr, ev.obj as TaskRun) : undefined;
      if (why) return { verdict: 'ignored', reason: why };
    }
    return { verdict: 'accept', group: group.uid };
  }

  /** Whether accepting this event would open a new waiting run (the caller bounds those). */
  opensGroup(group: string): boolean {
    return !this.groups.has(group);
  }

  private groupOf(ev: Omit<InboxEvent, 'at'>): { uid: string } | { ignored: string } {
    if (ev.kind === 'PipelineRun') return { uid: ev.uid };
    const p = parentOf(ev.obj as TaskRun);
    if ('forged' in p) return { ignored: `suspected forgery: TaskRun ${ev.obj.metadata.name ?? ''} ${p.forged}` };
    if ('none' in p) return { ignored: `TaskRun ${ev.obj.metadata.name ?? ''} belongs to no PipelineRun (standalone TaskRuns are not attested)` };
    return p;
  }

  /** Why `tr` cannot be a child of `pr`, or undefined when it is one. */
  private notAChild(pr: PipelineRun, tr: TaskRun): string | undefined {
    const name = tr.metadata.name ?? '';
    const refs = pr.status?.childReferences ?? [];
    if (!refs.some((c) => (c.kind ?? 'TaskRun') === 'TaskRun' && c.name === name)) {
      return `suspected forgery: TaskRun ${name} claims PipelineRun ${pr.metadata.name ?? ''} whose childReferences do not list it`;
    }
    const labelName = tr.metadata.labels?.[LABEL_PR];
    if (labelName !== undefined && labelName !== pr.metadata.name) return `suspected forgery: TaskRun ${name} names PipelineRun ${labelName}, not ${pr.metadata.name ?? ''}`;
    if ((tr.metadata.namespace ?? '') !== (pr.metadata.namespace ?? '')) return `suspected forgery: TaskRun ${name} is in namespace ${tr.metadata.namespace ?? ''}, its PipelineRun in ${pr.metadata.namespace ?? ''}`;
    return undefined;
  }

  /**
   * Applies an event that is durable in the inbox (re-checking it: a concurrent duplicate may have been stored too).
   * Returns the run when it became ready.
   */
  apply(ev: InboxEvent): ReadyRun | undefined {
    const v = this.classify(ev);
    if (v.verdict !== 'accept') return undefined;
    let g = this.groups.get(v.group);
    if (!g) {
      g = { prUid: v.group, children: new Map(), firstAt: ev.at, eventIds: [], uids: new Set(), events: [] };
      this.groups.set(v.group, g);
    }
    this.seenIds.add(ev.id);
    this.heldEvents++;
    g.eventIds.push(ev.id);
    g.events.push(TERMINAL.includes(ev.state) ? ev : { ...ev, obj: { apiVersion: ev.obj.apiVersion, kind: ev.obj.kind, metadata: ev.obj.metadata } as TaskRun | PipelineRun });
    g.uids.add(ev.uid);
    this.states.set(ev.uid, ev.state);
    if (!TERMINAL.includes(ev.state)) return undefined;
    if (ev.kind === 'TaskRun') {
      g.children.set(ev.obj.metadata.name ?? '', ev.obj as TaskRun);
    } else {
      g.pr = ev.obj as PipelineRun;
      g.prState = ev.state;
      // children that arrived first and are not really this run's
      for (const [name, tr] of g.children) {
        const why = this.notAChild(g.pr, tr);
        if (why) {
          this.opts.log.warn({ pipelineRun: g.pr.metadata.name, taskRun: name }, why);
          this.opts.onForged?.();
          g.children.delete(name);
        }
      }
    }
    return this.readyRun(g);
  }

  private readyRun(g: Group): ReadyRun | undefined {
    if (!g.pr || this.handedOut.has(g.prUid)) return undefined;
    const taskRuns: TaskRun[] = [];
    for (const ref of g.pr.status?.childReferences ?? []) {
      if ((ref.kind ?? 'TaskRun') !== 'TaskRun') continue; // custom runs are not TaskRuns: nothing of theirs to wait for
      const tr = g.children.get(ref.name);
      if (!tr) return undefined;
      taskRuns.push(tr);
    }
    this.handedOut.add(g.prUid);
    return { prUid: g.prUid, pipelineRun: g.pr, taskRuns };
  }

  /**
   * Takes a PipelineRun for attestation outside the event path (the reconcile found it finished on the API server).
   * False when it is finished here or already being attested.
   */
  claim(prUid: string): boolean {
    if (this.finished.has(prUid) || this.handedOut.has(prUid)) return false;
    this.handedOut.add(prUid);
    return true;
  }

  /** Whether a ready run's outcome should be attested at all. */
  shouldAttest(run: ReadyRun): boolean {
    const c = run.pipelineRun.status?.conditions?.find((x) => x.type === 'Succeeded');
    return c?.status === 'True' || (c?.status === 'False' && this.opts.attestFailedRuns);
  }

  /** Marks a PipelineRun finished (attested, or given up with `outcome` saying why) and frees what it held. */
  finish(prUid: string, outcome: string): void {
    this.finished.set(prUid, outcome);
    this.handedOut.delete(prUid);
    const g = this.groups.get(prUid);
    if (!g) return;
    for (const id of g.eventIds) this.seenIds.delete(id);
    this.heldEvents -= g.eventIds.length;
    for (const uid of g.uids) this.states.delete(uid);
    this.groups.delete(prUid);
  }

  /** The state as few records can rebuild it: how finished runs ended, and the events of unfinished ones. */
  snapshot(): { finished: [string, string][]; events: InboxEvent[] } {
    return { finished: [...this.finished], events: [...this.groups.values()].flatMap((g) => g.events) };
  }

  /**
   * Forgets what events said about a PipelineRun without marking it finished (cluster mode: the payloads disagreed
   * with the API server; the reconcile attests the API server's objects instead, and fresh events may start over).
   */
  drop(prUid: string): void {
    this.handedOut.delete(prUid);
    const g = this.groups.get(prUid);
    if (!g) return;
    for (const id of g.eventIds) this.seenIds.delete(id);
    this.heldEvents -= g.eventIds.length;
    for (const uid of g.uids) this.states.delete(uid);
    this.groups.delete(prUid);
  }

  /** Runs waiting since before `cutoff` (ms) that are not being attested: the caller gives them up durably. */
  expired(cutoff: number): string[] {
    const out: string[] = [];
    for (const g of this.groups.values()) if (g.firstAt < cutoff && !this.handedOut.has(g.prUid)) out.push(g.prUid);
    return out;
  }
}
