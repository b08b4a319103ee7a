import type { KeyObject } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import type { CloudEventV1 } from 'cloudevents';
import { SLSA_PROVENANCE_V1 } from '../attest/predicates.ts';
import { BLOCKING_WARNINGS, buildProvenance, isSignable, type EvidenceByproduct } from '../attest/provenance.ts';
import { signMessage, signPayload } from '../attest/sign.ts';
import { STATEMENT_TYPE_V1, type Statement } from '../attest/statement.ts';
import { VouchError, errorMessage, isVouchError, type ErrorCode } from '../common/errors.ts';
import { writeFileDurable } from '../common/durable.ts';
import { frameRecord, Journal } from '../common/journal.ts';
import { logger, type Logger } from '../common/log.ts';
import type { RegistryCredentials } from '../common/oci/registry.ts';
import type { KubeClient } from '../kube/client.ts';
import { FanOutStore, OciStore, isImageReference, parseImageReference, rekorBundleOf, repositoryName, simpleSigningPayload } from '../store/index.ts';
import type { AttestationStore, LogEntryRef, RunRef } from '../store/types.ts';
import { eventTypeFor, parseEventData, TektonEventType } from '../tekton/events.ts';
import type { PipelineRun, TaskRun } from '../tekton/types.ts';
import { TlogWriter, type TlogTarget } from './tlog-target.ts';
import { checkEvidence, DEFAULT_MAX_EVIDENCE_BYTES, evidenceClaims, evidencePrefix, isRefusal, type CheckedEvidence, type EvidenceClaim, type EvidenceRefusal, type EvidenceUnavailableKind, type OciEvidenceSource, ociEvidenceSource } from './evidence.ts';
import { Correlator, TERMINAL, type InboxEvent, type ReadyRun, type RunState } from './correlate.ts';
import { Metrics } from './metrics.ts';

// The sidecar's core: Tekton CloudEvents in, one signed, logged, verified and stored SLSA provenance per finished
// PipelineRun out, nothing lost and nothing attested twice.
//
// One durable journal (src/common/journal.ts) in DATA/sidecar.journal is both the inbox and the work queue. Records
// (JSON payloads):
//   {t:"e", id, kind, uid, state, at, obj}   an accepted event (obj: the run as tekton.dev/v1); appended and fsynced
//                                            before the event is acknowledged
//   {t:"s", w, payload, sig}                 the statement and its signature, fixed before the log sees them: a retry
//                                            after a crash re-submits the very same envelope, which the log answers
//                                            with the existing entry (409) instead of logging it twice. With an OCI
//                                            store, each image subject's cosign simple signing payload and signature
//                                            too (w: "<pr uid> cosign <repo>@sha256:<hex>"), logged as hashedrekord
//   {t:"s", w, payload, sig, ev}             gate evidence (w: "<pr uid> evidence <taskrun uid> <RESULT>"): the
//                                            statement with the provenance's subjects, journaled (with what the
//                                            provenance lists of it, ev) before the provenance is signed
//   {t:"v", w, kind, reason}                 gate evidence refused (outside the roots, digest mismatch, ...): decided
//                                            once, so a restart neither revisits nor recounts it
//   {t:"d", pr, w, logIndex}                 attested: logged, verified and stored (the provenance and its evidence)
//   {t:"x", pr, reason}                      given up for good (failed run not attested, unsignable, expired)
//   {t:"f", list: [[pr, outcome], …]}        finished runs, as compaction writes them
//   {t:"r", pr, reason}                      cluster mode: the events disagreed with the API server; forgotten (not
//                                            finished), so the reconcile attests the API server's objects
// At start a journal over compactBytes is rewritten (atomically: temp, fsync, rename) with only the live state.
// Work is not journaled separately: replaying the events rebuilds which PipelineRuns are ready, and "d"/"x" records
// say which of them are finished. Work waits with backoff while the log or the store is down, without limit.

const MAGIC = Buffer.from('vouch-sidecar v1', 'latin1');
const JOURNAL_FILE = 'sidecar.journal';

export interface SidecarOptions {
  /** directory of the journal (created) */
  dataDir: string;
  /** the key that signs attestations */
  privateKey: KeyObject;
  store: AttestationStore;
  /** where attestations are logged: the embedded log in-process, or a Rekor v1 compatible URL with its trusted root */
  tlog: TlogTarget;
  /** default false: only PipelineRuns that succeeded are attested */
  attestFailedRuns?: boolean;
  /** most unfinished PipelineRuns held; events that would open one more get 503 (default 10,000) */
  maxWaitingRuns?: number;
  /** most events of unfinished runs held (the inbox depth); beyond it events get 503 (default 100,000) */
  maxWaitingEvents?: number;
  /** unfinished runs older than this are given up (default 1 h) */
  maxWaitingMs?: number;
  /** most attestations waiting; beyond it events get 503 (default 10,000) */
  maxQueue?: number;
  /** attestations processed at once (default 16) */
  concurrency?: number;
  /** at start, a journal larger than this is rewritten with only the live state (default 64 MiB) */
  compactBytes?: number;
  /** first retry delay and its cap, ms (default 200 ms, 30 s) */
  retryMs?: { first: number; max: number };
  /**
   * Cluster mode: the API server the runs are re-read from before attesting (src/kube KubeClient). Event payloads are
   * then only triggers: the attestation is built from the API server's objects, and a payload that disagrees with
   * them is logged as suspected forgery and not attested.
   */
  apiServer?: Pick<KubeClient, 'getRun' | 'listRuns'>;
  /**
   * Cluster mode: list the PipelineRuns of this namespace every `everyMs` (and once at start) and attest finished ones
   * not attested yet, to catch events Tekton dropped. Runs annotated chains.tekton.dev/signed=true are left alone.
   */
  reconcile?: { namespace: string; everyMs: number };
  /**
   * Gate evidence (`*_EVIDENCE` results): files are read only inside these directories (absolute; symlinks resolved),
   * at most maxBytes each (default 16 MiB). No roots: every evidence claim is refused (and the provenance still signed).
   */
  evidence?: {
    roots: readonly string[];
    maxBytes?: number;
    /**
     * `oci://` evidence (docs/evidence.md): the only `registry/repository` entries fetched from (exact match), the
     * credentials per registry host, and how long a registry that cannot answer is waited for (default 1 h) before
     * the claim is refused as unavailable so the provenance goes on without it.
     */
    repositories?: readonly string[];
    registryCredentials?: Readonly<Record<string, RegistryCredentials>>;
    registryTimeoutMs?: number;
    waitMs?: number;
  };
  logger?: Logger;
  now?: () => number;
}

export type IngestOutcome = 'accepted' | 'duplicate' | 'ignored';

interface Work {
  id: string;
  run: ReadyRun;
  attempts: number;
  nextAt: number;
  running: boolean;
}

interface Signed {
  payload: Buffer;
  sig: Buffer;
  /** gate evidence: what the provenance lists of it, and the TaskRun it came from (its store record's run) */
  ev?: SignedEvidence;
}

interface SignedEvidence extends EvidenceByproduct {
  tr: EvidenceClaim['taskRun'];
}

type JournalRecord =
  | ({ t: 'e' } & InboxEvent)
  | { t: 's'; w: string; payload: string; sig: string; ev?: SignedEvidence }
  | { t: 'v'; w: string; kind: EvidenceRefusal['kind']; reason: string }
  | { t: 'd'; pr: string; w: string; logIndex: number }
  | { t: 'x'; pr: string; reason: string }
  | { t: 'f'; list: [pr: string, outcome: string][] }
  | { t: 'r'; pr: string; reason: string };

/** Codes of errors that retrying cannot fix: the input itself is wrong. */
const PERMANENT: readonly ErrorCode[] = ['STATEMENT_INVALID', 'PROVENANCE_INPUT_INVALID', 'STORE_INPUT_INVALID', 'KEY_INVALID'];

const workId = (prUid: string): string => `${prUid} ${SLSA_PROVENANCE_V1}`;
const imageSignatureId = (prUid: string, repository: string, sha256: string): string => `${prUid} cosign ${repository}@sha256:${sha256}`;

/** The OCI stores among the configured ones: image subjects get a cosign image signature there. */
function ociStoresOf(store: AttestationStore): OciStore[] {
  if (store instanceof OciStore) return [store];
  if (store instanceof FanOutStore) return store.stores.flatMap(ociStoresOf);
  return [];
}

/**
 * What the inbox keeps of an event's run: all of a finished run (it is attested from), only the metadata
 * correlation reads of an unfinished one (a journal write costs by the byte); managedFields never.
 */
function storedObject(ev: Omit<InboxEvent, 'at'>): TaskRun | PipelineRun {
  const { managedFields: _unused, ...metadata } = ev.obj.metadata as TaskRun['metadata'] & { managedFields?: unknown };
  if (TERMINAL.includes(ev.state)) return { ...ev.obj, metadata };
  return { apiVersion: ev.obj.apiVersion, kind: ev.obj.kind, metadata } as TaskRun | PipelineRun;
}

/**
 * What of a run's status a forger would change: identity, outcome, results, children, step images. Compared between
 * an event payload (converted to v1) and the API server's object. The spec is left out: v1beta1 -> v1 conversion
 * does not round-trip every spec exactly, and the attestation is built from the API server's objects anyway.
 */
function runFacts(run: TaskRun | PipelineRun): string {
  const status = (run.status ?? {}) as { conditions?: { type: string; status: string }[]; results?: { name: string; value: unknown }[]; childReferences?: { name: string }[]; steps?: { name?: string; imageID?: string }[] };
  return JSON.stringify({
    uid: run.metadata.uid,
    name: run.metadata.name,
    namespace: run.metadata.namespace,
    succeeded: status.conditions?.find((c) => c.type === 'Succeeded')?.status,
    results: (status.results ?? []).map((r) => [r.name, r.value]).sort(),
    children: (status.childReferences ?? []).map((c) => c.name).sort(),
    steps: (status.steps ?? []).map((st) => [st.name, st.imageID]),
  });
}

export class Sidecar {
  readonly metrics = new Metrics();
  private readonly opts: Required<Omit<SidecarOptions, 'logger' | 'tlog' | 'apiServer' | 'reconcile' | 'evidence'>> & Pick<SidecarOptions, 'tlog' | 'apiServer' | 'reconcile'>;
  private readonly evidenceRoots: readonly string[];
  private readonly maxEvidenceBytes: number;
  private readonly ociEvidence: OciEvidenceSource;
  private readonly evidenceWaitMs: number;
  /** when each gate evidence claim was first found unavailable (in memory: a restart waits afresh, never less) */
  private readonly evidenceWaiting = new Map<string, number>();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<number> | undefined;
  private readonly log: Logger;
  private readonly correlator: Correlator;
  private journal!: Journal;
  /** journaled signatures not logged and stored yet, by work id (attestation) or image signature id */
  private readonly signed = new Map<string, Signed>();
  /** gate evidence refused for runs not finished yet, by evidence id */
  private readonly refused = new Map<string, EvidenceRefusal>();
  private readonly ociStores: OciStore[];
  private readonly work = new Map<string, Work>();
  /** dedup keys of events being made durable: a concurrent duplicate waits for the first */
  private readonly inFlight = new Map<string, Promise<IngestOutcome>>();
  private newGroupsInFlight = 0;
  private readonly tlog: TlogWriter;
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly running = new Set<Promise<void>>();

  private constructor(options: SidecarOptions) {
    this.opts = {
      attestFailedRuns: false,
      maxWaitingRuns: 10_000,
      maxWaitingEvents: 100_000,
      maxWaitingMs: 3_600_000,
      maxQueue: 10_000,
      concurrency: 16,
      compactBytes: 64 * 1024 * 1024,
      retryMs: { first: 200, max: 30_000 },
      now: Date.now,
      ...options,
    };
    this.log = (options.logger ?? logger()).child({ component: 'sidecar' });
    this.evidenceRoots = [...(options.evidence?.roots ?? [])];
    this.maxEvidenceBytes = options.evidence?.maxBytes ?? DEFAULT_MAX_EVIDENCE_BYTES;
    if (this.evidenceRoots.some((r) => !r.startsWith('/'))) throw new VouchError('CONFIG_INVALID', `sidecar.evidenceRoots must be absolute paths, got ${JSON.stringify(this.evidenceRoots)}`);
    if (!Number.isSafeInteger(this.maxEvidenceBytes) || this.maxEvidenceBytes <= 0) throw new VouchError('CONFIG_INVALID', `sidecar.maxEvidenceBytes must be a positive integer, got ${String(this.maxEvidenceBytes)}`);
    this.ociEvidence = ociEvidenceSource(options.evidence ?? { roots: [] });
    this.evidenceWaitMs = options.evidence?.waitMs ?? 3_600_000;
    this.correlator = new Correlator({
      attestFailedRuns: this.opts.attestFailedRuns,
      log: this.log,
      onForged: () => {
        if (this.journal as Journal | undefined) this.metrics.inc('vouch_sidecar_events_forged_total');
      },
    });
    if (options.privateKey.type !== 'private') throw new VouchError('KEY_INVALID', 'the sidecar signs: it needs a private key');
    this.ociStores = ociStoresOf(options.store);
    this.tlog = new TlogWriter(options.tlog);
  }

  /** Opens the journal (replaying it: unfinished work resumes) and starts processing. */
  static async open(options: SidecarOptions): Promise<Sidecar> {
    const sc = new Sidecar(options);
    const ready: ReadyRun[] = [];
    const journalOptions = { dir: options.dataDir, file: JOURNAL_FILE, magic: MAGIC, what: 'the sidecar journal', minPayloadBytes: 2 };
    const { journal, replay } = await Journal.open(journalOptions, (payload) => {
      let rec: JournalRecord;
      try {
        rec = JSON.parse(payload.toString('utf8')) as JournalRecord;
      } catch {
        return false;
      }
      sc.replayRecord(rec, ready);
      return true;
    });
    sc.journal = journal;
    if (replay.truncatedBytes > 0) sc.log.warn({ bytes: replay.truncatedBytes }, 'cut a torn tail off the sidecar journal (never acknowledged)');
    sc.log.info({ records: replay.records }, 'sidecar journal replayed');
    if (journal.size > sc.opts.compactBytes) {
      // the new file replaces the old one (rename) while we still hold the lock
      const before = journal.size;
      await writeFileDurable(options.dataDir, JOURNAL_FILE, sc.compacted(), 0o600);
      await journal.close();
      sc.journal = (await Journal.open(journalOptions, () => true)).journal;
      sc.log.info({ before, after: sc.journal.size }, 'sidecar journal compacted');
    }
    for (const run of ready) if (!sc.correlator.isFinished(run.prUid)) sc.enqueue(run);
    sc.updateGauges();
    sc.pump();
    const every = Math.max(50, Math.min(30_000, sc.opts.maxWaitingMs / 4));
    sc.expiryTimer = setInterval(() => void sc.expire(), every);
    sc.expiryTimer.unref();
    const rc = options.reconcile;
    if (rc && options.apiServer) {
      void sc.reconcile().catch(() => undefined);
      sc.reconcileTimer = setInterval(() => void sc.reconcile().catch(() => undefined), rc.everyMs);
      sc.reconcileTimer.unref();
    }
    return sc;
  }

  private replayRecord(rec: JournalRecord, ready: ReadyRun[]): void {
    switch (rec.t) {
      case 'e': {
        const run = this.correlator.apply(rec);
        if (run) ready.push(run);
        break;
      }
      case 's':
        this.signed.set(rec.w, { payload: Buffer.from(rec.payload, 'base64'), sig: Buffer.from(rec.sig, 'base64'), ...(rec.ev ? { ev: rec.ev } : {}) });
        break;
      case 'v':
        this.refused.set(rec.w, { kind: rec.kind, reason: rec.reason });
        break;
      case 'd':
        this.correlator.finish(rec.pr, 'attested');
        this.forgetSigned(rec.pr);
        break;
      case 'x':
        this.correlator.finish(rec.pr, rec.reason);
        this.forgetSigned(rec.pr);
        break;
      case 'f':
        for (const [pr, outcome] of rec.list) this.correlator.finish(pr, outcome);
        break;
      case 'r':
        this.correlator.drop(rec.pr);
        this.forgetSigned(rec.pr);
        break;
    }
  }

  /** Drops a run's journaled signatures (its attestation's and its images') once the run is finished or forgotten. */
  private forgetSigned(prUid: string): void {
    for (const id of [...this.signed.keys()]) if (id.startsWith(`${prUid} `)) this.signed.delete(id);
    for (const id of [...this.refused.keys()]) if (id.startsWith(`${prUid} `)) this.refused.delete(id);
    for (const id of [...this.evidenceWaiting.keys()]) if (id.startsWith(`${prUid} `)) this.evidenceWaiting.delete(id);
  }

  /** A journal file holding only the live state: finished runs' outcomes, unfinished runs' events, pending signatures. */
  private compacted(): Buffer {
    const { finished, events } = this.correlator.snapshot();
    const records: JournalRecord[] = [];
    for (let i = 0; i < finished.length; i += 10_000) records.push({ t: 'f', list: finished.slice(i, i + 10_000) });
    for (const ev of events) records.push({ t: 'e', ...ev });
    for (const [w, sig] of this.signed) records.push({ t: 's', w, payload: sig.payload.toString('base64'), sig: sig.sig.toString('base64'), ...(sig.ev ? { ev: sig.ev } : {}) });
    for (const [w, r] of this.refused) records.push({ t: 'v', w, kind: r.kind, reason: r.reason });
    return Buffer.concat([MAGIC, ...records.map((r) => frameRecord(Buffer.from(JSON.stringify(r), 'utf8')))]);
  }

  private append(rec: JournalRecord): Promise<number> {
    return this.journal.append(Buffer.from(JSON.stringify(rec), 'utf8'));
  }

  /** An EventSink for the runner's in-process path: the same ingest as HTTP, without the token. */
  readonly sink = {
    send: async (event: CloudEventV1<unknown>): Promise<void> => {
      await this.ingest(event);
    },
  };

  /** attestations waiting or being processed */
  get queueDepth(): number {
    return this.work.size;
  }

  /** taking events: not shutting down, and the journal has not failed */
  get ready(): boolean {
    return !this.closing && !this.journal.failed;
  }

  /**
   * Takes one Tekton CloudEvent (already authenticated by the caller). Resolves once it is durable (or known to be a
   * duplicate / irrelevant). Rejects with SIDECAR_EVENT_INVALID (answer 400), SIDECAR_BUSY or SIDECAR_UNAVAILABLE
   * (answer 503: Tekton retries).
   */
  async ingest(event: CloudEventV1<unknown>): Promise<IngestOutcome> {
    let ev: Omit<InboxEvent, 'at'>;
    try {
      const parsed = this.parse(event);
      if (parsed === undefined) {
        this.metrics.inc('vouch_sidecar_events_ignored_total');
        return 'ignored';
      }
      ev = parsed;
    } catch (err) {
      this.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'invalid' });
      throw err;
    }
    if (this.closing) {
      this.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'unavailable' });
      throw new VouchError('SIDECAR_UNAVAILABLE', 'the sidecar is shutting down; retry');
    }
    const keys = [`id:${ev.id}`, `obj:${ev.uid}:${ev.state}`];
    for (const k of keys) {
      const first = this.inFlight.get(k);
      if (first) {
        await first;
        this.metrics.inc('vouch_sidecar_events_duplicate_total');
        return 'duplicate';
      }
    }
    const v = this.correlator.classify(ev);
    if (v.verdict === 'duplicate') {
      this.metrics.inc('vouch_sidecar_events_duplicate_total');
      this.log.debug({ id: ev.id, uid: ev.uid, state: ev.state, reason: v.reason }, 'duplicate event');
      return 'duplicate';
    }
    if (v.verdict === 'ignored') {
      this.metrics.inc('vouch_sidecar_events_ignored_total');
      const forged = v.reason.startsWith('suspected forgery');
      if (forged) this.metrics.inc('vouch_sidecar_events_forged_total');
      this.log[forged ? 'warn' : 'debug']({ id: ev.id, kind: ev.kind, name: ev.obj.metadata.name, uid: ev.uid, state: ev.state }, v.reason);
      return 'ignored';
    }
    if (this.work.size >= this.opts.maxQueue) {
      this.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'busy' });
      throw new VouchError('SIDECAR_BUSY', `${this.work.size} attestations are waiting (sidecar.maxQueue); retry later`);
    }
    // events being made durable count too (two dedup keys each)
    if (this.correlator.waitingEvents + this.inFlight.size / 2 >= this.opts.maxWaitingEvents) {
      this.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'busy' });
      throw new VouchError('SIDECAR_BUSY', `${this.correlator.waitingEvents} events of unfinished runs are held (sidecar.maxWaitingEvents); retry later`);
    }
    const opens = this.correlator.opensGroup(v.group);
    if (opens && this.correlator.waitingRuns + this.newGroupsInFlight >= this.opts.maxWaitingRuns) {
      this.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'busy' });
      throw new VouchError('SIDECAR_BUSY', `${this.correlator.waitingRuns} unfinished runs are waiting (sidecar.maxWaitingRuns); retry later`);
    }
    const full: InboxEvent = { ...ev, obj: storedObject(ev), at: this.opts.now() };
    const p = this.persist(full, opens);
    for (const k of keys) this.inFlight.set(k, p);
    try {
      return await p;
    } finally {
      for (const k of keys) if (this.inFlight.get(k) === p) this.inFlight.delete(k);
    }
  }

  private async persist(ev: InboxEvent, opens: boolean): Promise<IngestOutcome> {
    if (opens) this.newGroupsInFlight++;
    try {
      await this.append({ t: 'e', ...ev });
    } catch (err) {
      this.metrics.inc('vouch_sidecar_events_rejected_total', { reason: 'unavailable' });
      this.log.error({ err: errorMessage(err) }, 'cannot store an event in the inbox');
      throw new VouchError('SIDECAR_UNAVAILABLE', `the inbox cannot store the event: ${errorMessage(err)}`, { cause: err });
    } finally {
      if (opens) this.newGroupsInFlight--;
    }
    this.metrics.inc('vouch_sidecar_events_accepted_total');
    const run = this.correlator.apply(ev);
    if (run) this.enqueue(run);
    this.updateGauges();
    return 'accepted';
  }

  /** The event's run, or undefined when it is not about a TaskRun or PipelineRun (custom runs). */
  private parse(event: CloudEventV1<unknown>): Omit<InboxEvent, 'at'> | undefined {
    const type = event.type;
    const m = /^dev\.tekton\.event\.(taskrun|pipelinerun|customrun)\.[a-z]+\.v1$/.exec(type);
    if (!m) throw new VouchError('SIDECAR_EVENT_INVALID', `not a Tekton run event type: ${JSON.stringify(type.slice(0, 200))}`);
    if (m[1] === 'customrun') return undefined;
    if (!(Object.values(TektonEventType) as string[]).includes(type)) throw new VouchError('SIDECAR_EVENT_INVALID', `unknown Tekton event type ${type}`);
    let data: unknown = event.data;
    if (typeof data === 'string' || Buffer.isBuffer(data) || data instanceof Uint8Array) {
      try {
        data = JSON.parse(Buffer.from(data).toString('utf8'));
      } catch {
        throw new VouchError('SIDECAR_EVENT_INVALID', 'event data is not JSON');
      }
    }
    let run;
    try {
      run = parseEventData(data);
    } catch (err) {
      throw new VouchError('SIDECAR_EVENT_INVALID', errorMessage(err));
    }
    const kind = m[1] === 'taskrun' ? 'TaskRun' : 'PipelineRun';
    if (run.kind !== kind) throw new VouchError('SIDECAR_EVENT_INVALID', `event type ${type} carries a ${run.kind}`);
    const uid = run.metadata.uid;
    if (typeof uid !== 'string' || uid === '' || uid.length > 256) throw new VouchError('SIDECAR_EVENT_INVALID', `${kind} ${run.metadata.name ?? ''} has no metadata.uid`);
    if (typeof event.id !== 'string' || event.id === '') throw new VouchError('SIDECAR_EVENT_INVALID', 'the event has no id');
    // the state is the payload's own Succeeded condition, the same rule Tekton picks the type by
    const state = eventTypeFor(run).split('.')[4] as RunState;
    return { id: event.id, kind, uid, state, obj: run };
  }

  private enqueue(run: ReadyRun): void {
    const id = workId(run.prUid);
    if (this.work.has(id)) return;
    this.work.set(id, { id, run, attempts: 0, nextAt: 0, running: false });
    this.updateGauges();
    this.pump();
  }

  /** Starts due work up to the concurrency limit and arms a timer for the next due item. */
  private pump(): void {
    if (this.closing) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = this.opts.now();
    let busy = [...this.work.values()].filter((w) => w.running).length;
    let next = Infinity;
    for (const w of this.work.values()) {
      if (w.running) continue;
      if (w.nextAt > now) {
        next = Math.min(next, w.nextAt);
        continue;
      }
      if (busy >= this.opts.concurrency) break;
      busy++;
      w.running = true;
      const p = this.process(w).finally(() => {
        this.running.delete(p);
        w.running = false;
        this.pump();
        this.checkIdle();
      });
      this.running.add(p);
    }
    if (next !== Infinity) {
      this.timer = setTimeout(() => {
        this.pump();
      }, Math.max(0, next - now));
      this.timer.unref();
    }
  }

  private async process(w: Work): Promise<void> {
    const { run } = w;
    const pr = run.pipelineRun;
    const where = { pipelineRun: pr.metadata.name, namespace: pr.metadata.namespace, uid: run.prUid };
    try {
      let signed = this.signed.get(w.id);
      let source: ReadyRun = run;
      if (!signed && this.opts.apiServer) {
        const fresh = await this.reread(run, this.opts.apiServer);
        if (typeof fresh === 'string') {
          // nothing of these payloads is attested; the run itself is not given up, or a forger could suppress a
          // real run's attestation: the reconcile attests the API server's objects
          this.metrics.inc('vouch_sidecar_events_forged_total');
          await this.append({ t: 'r', pr: run.prUid, reason: fresh });
          this.correlator.drop(run.prUid);
          this.work.delete(w.id);
          this.log.warn({ ...where }, `${fresh}; its events are discarded and the run is left to the reconcile`);
          return;
        }
        source = fresh;
      }
      if (!signed && !this.correlator.shouldAttest(source)) {
        await this.giveUp(w, 'failed run, not attested (sidecar.attestFailedRuns is off)', 'skipped');
        return;
      }
      if (!signed) {
        // gate evidence is decided (and journaled) before the provenance, which lists what was accepted
        const evidence = await this.gateEvidence(run.prUid, source.taskRuns, where);
        const result = buildProvenance({ pipelineRun: source.pipelineRun, taskRuns: source.taskRuns }, { evidence: evidence.map((e) => e.ev) });
        for (const warning of result.warnings) this.log.warn({ ...where, warning }, 'provenance warning');
        if (!isSignable(result)) {
          // evidence statements carry the provenance's subjects: without a signable provenance there are none to trust
          const withEvidence = evidence.length > 0 ? ` (nor its ${String(evidence.length)} gate evidence statement(s), which would carry the same subjects)` : '';
          await this.giveUp(w, `provenance cannot be signed${withEvidence}: ${result.warnings.filter((x) => BLOCKING_WARNINGS.includes(x.code)).map((x) => `${x.code} (${x.message})`).join('; ')}`, 'failed');
          return;
        }
        for (const e of evidence) {
          if (this.signed.has(e.id) || !e.predicate) continue;
          const statement = { _type: STATEMENT_TYPE_V1, subject: result.statement.subject ?? [], predicateType: e.ev.predicateType, predicate: e.predicate };
          const { payload, signature } = signPayload(statement, this.opts.privateKey);
          await this.append({ t: 's', w: e.id, payload: payload.toString('base64'), sig: signature.toString('base64'), ev: e.ev });
          this.signed.set(e.id, { payload, sig: signature, ev: e.ev });
        }
        // journaled before logging, so that a retry (also after a crash) logs these very bytes: one entry, not two
        const { payload, signature } = signPayload(result.statement, this.opts.privateKey);
        await this.append({ t: 's', w: w.id, payload: payload.toString('base64'), sig: signature.toString('base64') });
        signed = { payload, sig: signature };
        this.signed.set(w.id, signed);
      }
      const { statement, entry } = await this.logAndStore(signed, { kind: 'PipelineRun', namespace: pr.metadata.namespace ?? '', name: pr.metadata.name ?? '', uid: run.prUid });
      const evidence = await this.storeEvidence(run.prUid);
      const images = await this.signImages(run.prUid, statement);
      await this.append({ t: 'd', pr: run.prUid, w: w.id, logIndex: entry.logIndex });
      if (evidence > 0) this.metrics.inc('vouch_sidecar_evidence_attested_total', undefined, evidence);
      this.correlator.finish(run.prUid, 'attested');
      this.forgetSigned(run.prUid);
      this.work.delete(w.id);
      this.metrics.inc('vouch_sidecar_attestations_signed_total');
      this.log.info({ ...where, logIndex: entry.logIndex, subjects: statement.subject.length, evidence, imageSignatures: images }, 'PipelineRun attested');
    } catch (err) {
      if (isVouchError(err) && PERMANENT.includes(err.code)) {
        const recorded = await this.giveUp(w, errorMessage(err), 'failed').then(
          () => true,
          () => false,
        );
        if (recorded) return;
        // the journal could not record it: retry later like any other failure
      }
      w.attempts++;
      const delay = Math.min(this.opts.retryMs.max, this.opts.retryMs.first * 2 ** Math.min(w.attempts - 1, 20));
      w.nextAt = this.opts.now() + delay * (0.75 + Math.random() * 0.5);
      this.metrics.inc('vouch_sidecar_attempts_failed_total');
      this.log.warn({ ...where, attempt: w.attempts, retryInMs: Math.round(w.nextAt - this.opts.now()), err: errorMessage(err) }, 'attestation failed; will retry');
    } finally {
      this.updateGauges();
    }
  }

  /**
   * The run's gate evidence claims, each either already signed (journal), already refused (journal: skipped), or
   * checked now: a refusal is journaled, logged and counted here, and never stops the provenance. One attestation per
   * predicate type and TaskRun (the store's key): a second claim of the same type in one TaskRun is refused.
   */
  private async gateEvidence(prUid: string, taskRuns: readonly TaskRun[], where: Record<string, unknown>): Promise<{ id: string; ev: SignedEvidence; predicate?: Record<string, unknown> }[]> {
    const out: { id: string; ev: SignedEvidence; predicate?: Record<string, unknown> }[] = [];
    const seen = new Set<string>();
    for (const claim of evidenceClaims(prUid, taskRuns)) {
      const done = this.signed.get(claim.id)?.ev;
      if (done) {
        seen.add(`${claim.taskRun.uid} ${done.predicateType}`);
        out.push({ id: claim.id, ev: done });
        continue;
      }
      if (this.refused.has(claim.id)) continue;
      let checked: CheckedEvidence | EvidenceRefusal;
      try {
        checked = await checkEvidence(claim, this.evidenceRoots, this.maxEvidenceBytes, this.ociEvidence);
        this.evidenceWaiting.delete(claim.id);
      } catch (err) {
        if (!isVouchError(err, 'SIDECAR_EVIDENCE_UNAVAILABLE')) throw err;
        // the registry cannot answer now: the whole run waits (nothing journaled, so the retry decides afresh and the
        // provenance is signed once, with the evidence), but not forever: past the wait the claim is refused
        const since = this.evidenceWaiting.get(claim.id) ?? this.opts.now();
        this.evidenceWaiting.set(claim.id, since);
        if (this.opts.now() - since < this.evidenceWaitMs) {
          this.log.warn({ ...where, taskRun: claim.taskRun.name, result: claim.result }, `gate evidence ${claim.pipelineTask}/${claim.result} cannot be fetched yet; the run waits and retries: ${errorMessage(err)}`);
          throw err;
        }
        this.evidenceWaiting.delete(claim.id);
        const kind = (err.details as { kind?: EvidenceUnavailableKind } | undefined)?.kind ?? 'unavailable';
        checked = { kind, reason: `${errorMessage(err)}; given up after waiting ${String(Math.round((this.opts.now() - since) / 1000))} s (sidecar.evidenceWaitSeconds)` };
      }
      if (!isRefusal(checked) && seen.has(`${claim.taskRun.uid} ${checked.predicateType}`)) {
        checked = { kind: 'duplicate_type', reason: `TaskRun ${claim.taskRun.name} already has ${checked.predicateType} evidence: one per TaskRun and type` };
      }
      if (isRefusal(checked)) {
        await this.append({ t: 'v', w: claim.id, kind: checked.kind, reason: checked.reason });
        this.refused.set(claim.id, checked);
        this.metrics.inc('vouch_sidecar_evidence_refused_total', { reason: checked.kind });
        this.log.warn({ ...where, taskRun: claim.taskRun.name, result: claim.result, refused: checked.kind }, `gate evidence ${claim.pipelineTask}/${claim.result} refused, not attested: ${checked.reason}`);
        continue;
      }
      seen.add(`${claim.taskRun.uid} ${checked.predicateType}`);
      const ev: SignedEvidence = { name: `${claim.pipelineTask}/${claim.result}`, uri: checked.uri, sha256: checked.sha256, predicateType: checked.predicateType, tr: claim.taskRun };
      out.push({ id: claim.id, ev, predicate: checked.predicate });
    }
    return out;
  }

  /**
   * Logs, verifies and stores every signed gate evidence statement of the run, as the provenance: the journaled
   * envelope (the log answers a resubmission with the existing entry), filed under each subject with the TaskRun as
   * its run. Returns how many.
   */
  private async storeEvidence(prUid: string): Promise<number> {
    let count = 0;
    for (const [id, signed] of this.signed) {
      if (!id.startsWith(evidencePrefix(prUid)) || !signed.ev) continue;
      await this.logAndStore(signed, { kind: 'TaskRun', ...signed.ev.tr });
      count++;
    }
    return count;
  }

  /**
   * Cluster mode: the PipelineRun and its child TaskRuns as the API server has them, or why the event payloads cannot
   * be trusted (a string starting "suspected forgery"; the run is then not attested). KUBE_UNAVAILABLE is retried.
   */
  private async reread(run: ReadyRun, api: Pick<KubeClient, 'getRun'>): Promise<ReadyRun | string> {
    const ns = run.pipelineRun.metadata.namespace ?? '';
    const name = run.pipelineRun.metadata.name ?? '';
    const get = async (kind: 'PipelineRun' | 'TaskRun', n: string): Promise<unknown> => {
      try {
        return await api.getRun(kind, ns, n);
      } catch (err) {
        if (isVouchError(err, 'KUBE_NOT_FOUND')) return undefined;
        throw err;
      }
    };
    const pr = (await get('PipelineRun', name)) as PipelineRun | undefined;
    if (!pr) return `suspected forgery or deleted run: the API server has no PipelineRun ${ns}/${name}`;
    const differs = (what: string, payload: TaskRun | PipelineRun, real: TaskRun | PipelineRun): string | undefined => {
      const a = runFacts(payload);
      const b = runFacts(real);
      if (a === b) return undefined;
      this.log.warn({ kind: what, namespace: ns, payload: a, apiServer: b }, 'suspected forgery: an event payload disagrees with the API server');
      return `suspected forgery: the event payload of ${what} disagrees with the API server`;
    };
    const prDiff = differs(`PipelineRun ${ns}/${name}`, run.pipelineRun, pr);
    if (prDiff) return prDiff;
    const taskRuns: TaskRun[] = [];
    for (const payload of run.taskRuns) {
      const trName = payload.metadata.name ?? '';
      const tr = (await get('TaskRun', trName)) as TaskRun | undefined;
      if (!tr) return `suspected forgery or deleted run: the API server has no TaskRun ${ns}/${trName}`;
      const trDiff = differs(`TaskRun ${ns}/${trName}`, payload, tr);
      if (trDiff) return trDiff;
      taskRuns.push(tr);
    }
    return { prUid: run.prUid, pipelineRun: pr, taskRuns };
  }

  /**
   * With an OCI store: a cosign image signature for every image subject (as Chains signs TaskRun images), so that
   * `cosign verify --key` works on the image. The simple signing payload and its signature are journaled before the
   * log sees them (one hashedrekord entry across retries and restarts); putSignature is idempotent. Returns how many.
   */
  private async signImages(prUid: string, statement: Statement): Promise<number> {
    if (this.ociStores.length === 0) return 0;
    let count = 0;
    for (const subject of statement.subject) {
      const sha256 = subject.digest?.['sha256'];
      if (!sha256 || !subject.name || !isImageReference(subject.name)) continue;
      const repository = repositoryName(parseImageReference(subject.name));
      const id = imageSignatureId(prUid, repository, sha256);
      let signed = this.signed.get(id);
      if (!signed) {
        const { payload, signature } = signMessage(simpleSigningPayload(repository, sha256), this.opts.privateKey);
        await this.append({ t: 's', w: id, payload: payload.toString('base64'), sig: signature.toString('base64') });
        signed = { payload, sig: signature };
        this.signed.set(id, signed);
      }
      const json = await this.tlog.logMessage({ payload: signed.payload, signature: signed.sig }, this.opts.privateKey);
      const rekorBundle = rekorBundleOf(json);
      for (const store of this.ociStores) {
        await store.putSignature({ image: { name: subject.name, sha256 }, payload: signed.payload, signature: signed.sig.toString('base64'), ...(rekorBundle ? { rekorBundle } : {}) });
      }
      count++;
    }
    return count;
  }

  /** Logs the journaled envelope, then stores it under each subject with a sha256, as the record of `run`. */
  private async logAndStore(signed: Signed, run: RunRef): Promise<{ statement: Statement; entry: LogEntryRef }> {
    const { json, entry } = await this.logEnvelope(signed);
    const statement = JSON.parse(signed.payload.toString('utf8')) as Statement;
    for (const subject of statement.subject) {
      const sha256 = subject.digest?.['sha256'];
      if (!sha256 || !subject.name) continue;
      await this.opts.store.put({ subject: { name: subject.name, sha256 }, predicateType: statement.predicateType, runUid: run.uid, bundle: json, logEntry: entry, run });
    }
    return { statement, entry };
  }

  /** Logs the journaled envelope (a second submission of the same one gets the existing entry) and verifies the answer. */
  private logEnvelope(signed: Signed): Promise<{ json: SerializedBundle; entry: LogEntryRef }> {
    return this.tlog.log({ payload: signed.payload, signature: signed.sig }, this.opts.privateKey);
  }

  private async giveUp(w: Work, reason: string, metric: 'skipped' | 'failed'): Promise<void> {
    await this.append({ t: 'x', pr: w.run.prUid, reason });
    this.correlator.finish(w.run.prUid, reason);
    this.forgetSigned(w.run.prUid);
    this.work.delete(w.id);
    this.metrics.inc(metric === 'skipped' ? 'vouch_sidecar_attestations_skipped_total' : 'vouch_sidecar_attestations_failed_total');
    this.log[metric === 'skipped' ? 'info' : 'error']({ pipelineRun: w.run.pipelineRun.metadata.name, uid: w.run.prUid }, `not attested: ${reason}`);
  }

  /**
   * Cluster mode: finished PipelineRuns on the API server that are neither attested here nor being attested, and not
   * annotated as signed, are attested from the API server's objects. Returns how many were taken.
   */
  reconcile(): Promise<number> {
    this.reconciling ??= this.reconcileOnce().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  private async reconcileOnce(): Promise<number> {
    const api = this.opts.apiServer;
    const rc = this.opts.reconcile;
    if (!api || !rc || this.closing) return 0;
    let taken = 0;
    try {
      for (const obj of await api.listRuns('PipelineRun', rc.namespace)) {
        const pr = obj as unknown as PipelineRun;
        const uid = pr.metadata.uid;
        const succeeded = pr.status?.conditions?.find((c) => c.type === 'Succeeded')?.status;
        if (!uid || (succeeded !== 'True' && succeeded !== 'False')) continue;
        if (pr.metadata.annotations?.['chains.tekton.dev/signed'] === 'true') continue;
        if (this.correlator.isFinished(uid) || this.work.has(workId(uid))) continue;
        const taskRuns: TaskRun[] = [];
        let complete = true;
        for (const ref of pr.status?.childReferences ?? []) {
          if ((ref.kind ?? 'TaskRun') !== 'TaskRun') continue;
          try {
            taskRuns.push((await api.getRun('TaskRun', rc.namespace, ref.name)) as unknown as TaskRun);
          } catch (err) {
            complete = false;
            this.log.warn({ pipelineRun: pr.metadata.name, taskRun: ref.name, err: errorMessage(err) }, 'reconcile: a child TaskRun cannot be read; trying again next time');
          }
        }
        if (!complete || this.closing || !this.correlator.claim(uid)) continue;
        this.log.info({ pipelineRun: pr.metadata.name, uid }, 'reconcile: a finished PipelineRun was never attested (its events were dropped?)');
        this.metrics.inc('vouch_sidecar_reconciled_total');
        this.enqueue({ prUid: uid, pipelineRun: pr, taskRuns });
        taken++;
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'reconcile: cannot list PipelineRuns; trying again next time');
      throw err;
    }
    return taken;
  }

  /** Gives up runs that waited longer than maxWaitingMs (durably, so a restart does not resurrect them). */
  async expire(): Promise<void> {
    if (this.closing) return;
    const cutoff = this.opts.now() - this.opts.maxWaitingMs;
    for (const pr of this.correlator.expired(cutoff)) {
      const reason = `expired: incomplete after ${Math.round(this.opts.maxWaitingMs / 1000)} s (PipelineRun or child TaskRuns never finished or never arrived)`;
      try {
        await this.append({ t: 'x', pr, reason });
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'cannot record an expired run');
        return;
      }
      this.correlator.finish(pr, reason);
      this.metrics.inc('vouch_sidecar_runs_expired_total');
      this.log.warn({ uid: pr }, reason);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.metrics.set('vouch_sidecar_waiting_runs', this.correlator.waitingRuns);
    this.metrics.set('vouch_sidecar_inbox_depth', this.correlator.waitingEvents);
    this.metrics.set('vouch_sidecar_queue_depth', this.work.size);
    if (this.journal as Journal | undefined) this.metrics.set('vouch_sidecar_journal_bytes', this.journal.size);
  }

  private checkIdle(): void {
    if (this.work.size > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /**
   * Resolves when no attestation is waiting (tests, `vouch run`): true, or false when `timeoutMs` passed first (e.g.
   * the store keeps failing and work is being retried).
   */
  idle(timeoutMs?: number): Promise<boolean> {
    if (this.work.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          const i = this.idleWaiters.indexOf(done);
          if (i >= 0) this.idleWaiters.splice(i, 1);
          resolve(false);
        }, timeoutMs);
      }
    });
  }

  /** Stops taking events, lets attestations in progress finish (the rest stays in the journal), closes the journal. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.expiryTimer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.timer) clearTimeout(this.timer);
    await this.reconciling?.catch(() => undefined);
    await Promise.allSettled([...this.inFlight.values()]);
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    await this.journal.close();
  }
}
