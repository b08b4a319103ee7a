import { createHash } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import { VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import type { KubeClient, KubeObject } from '../kube/client.ts';
import { checkRecord, checkSha256Hex } from './record.ts';
import type { AttestationRecord, AttestationStore, LogEntryRef, RunRef, StoreLocation } from './types.ts';

// Tekton annotations store (cluster): records the attestation on the TaskRun/PipelineRun it is about, as Tekton
// Chains does (tektoncd/chains pkg/chains/annotations.go, pkg/chains/signing.go, pkg/chains/storage/tekton):
//   chains.tekton.dev/signed        "true"
//   chains.tekton.dev/transparency  <rekor>/api/v1/log/entries?logIndex=N   (the provenance's entry)
//   chains.tekton.dev/payload-<kind>-<uid>, signature-<kind>-<uid>  base64 of the statement and of the DSSE envelope,
//                                   for SLSA provenance (Chains' tekton storage backend; cert/chain are empty: keyed)
// and, for every predicate, the whole record under vouch.dev/attestation-<hash of predicateType> (JSON), which is what
// list() reads back. One JSON merge patch per put (Chains patches with merge patch too; its newest versions moved to
// server-side apply). The object is re-read first: a run deleted and re-created under the same name (another uid) is
// never annotated, a record already there is not patched again, and annotations beyond the API server's 256 KiB
// total are refused before the patch.

export const ChainsAnnotations = {
  signed: 'chains.tekton.dev/signed',
  transparency: 'chains.tekton.dev/transparency',
  payloadPrefix: 'chains.tekton.dev/payload-',
  signaturePrefix: 'chains.tekton.dev/signature-',
  certPrefix: 'chains.tekton.dev/cert-',
  chainPrefix: 'chains.tekton.dev/chain-',
} as const;

export const VOUCH_ATTESTATION_PREFIX = 'vouch.dev/attestation-';

/** The API server's limit on the total size of an object's annotations (apimachinery TotalAnnotationSizeLimitB). */
export const ANNOTATIONS_LIMIT_BYTES = 256 * 1024;

const PROVENANCE = /^https:\/\/slsa\.dev\/provenance\//;

export function attestationAnnotationKey(predicateType: string): string {
  return `${VOUCH_ATTESTATION_PREFIX}${createHash('sha256').update(predicateType).digest('hex').slice(0, 20)}`;
}

/** Chains' transparency annotation value. */
export function transparencyUrl(entry: LogEntryRef): string {
  return `${entry.url.replace(/\/+$/, '')}/api/v1/log/entries?logIndex=${entry.logIndex}`;
}

interface StoredAnnotation {
  subject: { name: string; sha256: string };
  predicateType: string;
  logEntry?: LogEntryRef;
  bundle: SerializedBundle;
}

export interface TektonStoreOptions {
  /** namespace whose runs list() searches */
  namespace: string;
}

export class TektonStore implements AttestationStore {
  readonly kind = 'tekton' as const;
  private readonly kube: KubeClient;
  private readonly namespace: string;
  private readonly log = logger('store.tekton');

  constructor(kube: KubeClient, options: TektonStoreOptions) {
    this.kube = kube;
    this.namespace = options.namespace;
  }

  async put(record: AttestationRecord): Promise<StoreLocation> {
    const facts = checkRecord(record);
    const run = checkRun(record.run, record.runUid);
    const where = `${run.kind} ${run.namespace}/${run.name}`;
    const location: StoreLocation = { kind: 'tekton', ref: `${run.kind}/${run.namespace}/${run.name}` };
    const current = await this.kube.getRun(run.kind, run.namespace, run.name);
    if (current.metadata.uid !== run.uid) {
      throw new VouchError('STORE_REJECTED', `${where} now has uid ${String(current.metadata.uid)}, not ${run.uid}: it was deleted and re-created, so it is not annotated`);
    }
    const existing = current.metadata.annotations ?? {};
    const key = attestationAnnotationKey(record.predicateType);
    const stored: StoredAnnotation = { subject: record.subject, predicateType: facts.predicateType, ...(record.logEntry ? { logEntry: record.logEntry } : {}), bundle: record.bundle };
    const patch: Record<string, string> = { [ChainsAnnotations.signed]: 'true' };
    if (existing[key] === undefined) patch[key] = JSON.stringify(stored);
    const isProvenance = PROVENANCE.test(record.predicateType);
    if (record.logEntry && (isProvenance || existing[ChainsAnnotations.transparency] === undefined)) {
      patch[ChainsAnnotations.transparency] = transparencyUrl(record.logEntry);
    }
    if (isProvenance) {
      const shortKey = `${run.kind.toLowerCase()}-${run.uid}`;
      const env = (record.bundle as { dsseEnvelope?: { payload: string } }).dsseEnvelope!;
      patch[`${ChainsAnnotations.payloadPrefix}${shortKey}`] = env.payload;
      // the envelope as it was logged (its bytes are what the log's envelopeHash covers)
      patch[`${ChainsAnnotations.signaturePrefix}${shortKey}`] = Buffer.from(JSON.stringify(record.bundle.dsseEnvelope)).toString('base64');
      patch[`${ChainsAnnotations.certPrefix}${shortKey}`] = '';
      patch[`${ChainsAnnotations.chainPrefix}${shortKey}`] = '';
    }
    const changed = Object.entries(patch).filter(([k, v]) => existing[k] !== v);
    if (changed.length === 0) return location;
    const merged = { ...existing, ...patch };
    const size = Object.entries(merged).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
    if (size > ANNOTATIONS_LIMIT_BYTES) {
      throw new VouchError('STORE_REJECTED', `${where}: the attestation (${predicateName(record.predicateType)}) would bring its annotations to ${size} bytes, over the API server's ${ANNOTATIONS_LIMIT_BYTES}: store it in the OCI or local store instead`);
    }
    await this.kube.patchAnnotations(run.kind, run.namespace, run.name, Object.fromEntries(changed));
    this.log.debug({ where, predicateType: record.predicateType, keys: changed.map(([k]) => k) }, 'annotated');
    return location;
  }

  /** Searches the PipelineRuns and TaskRuns of the namespace (one list each: the API server has no index by digest). */
  async list(subjectSha256: string): Promise<AttestationRecord[]> {
    checkSha256Hex(subjectSha256);
    const runs: [RunRef['kind'], KubeObject[]][] = [
      ['PipelineRun', await this.kube.listPipelineRuns(this.namespace)],
      ['TaskRun', await this.kube.listTaskRuns(this.namespace)],
    ];
    const out: AttestationRecord[] = [];
    for (const [kind, objects] of runs) {
      for (const obj of objects) {
        for (const [key, value] of Object.entries(obj.metadata.annotations ?? {})) {
          if (!key.startsWith(VOUCH_ATTESTATION_PREFIX)) continue;
          let stored: StoredAnnotation;
          try {
            stored = JSON.parse(value) as StoredAnnotation;
          } catch {
            throw new VouchError('STORE_CORRUPT', `${kind} ${this.namespace}/${obj.metadata.name}: annotation ${key} is not JSON`);
          }
          if (stored.subject?.sha256 !== subjectSha256) continue;
          const uid = obj.metadata.uid ?? '';
          const record: AttestationRecord = {
            subject: stored.subject,
            predicateType: stored.predicateType,
            runUid: uid,
            bundle: stored.bundle,
            run: { kind, namespace: this.namespace, name: obj.metadata.name, uid },
          };
          // the annotation's fields must agree with the signed statement
          try {
            checkRecord(record);
          } catch (err) {
            throw new VouchError('STORE_CORRUPT', `${kind} ${this.namespace}/${obj.metadata.name}: annotation ${key} does not hold a consistent attestation: ${(err as Error).message}`);
          }
          if (stored.logEntry) record.logEntry = stored.logEntry;
          out.push(record);
        }
      }
    }
    return out;
  }
}

function checkRun(run: RunRef | undefined, runUid: string): RunRef {
  if (!run || (run.kind !== 'TaskRun' && run.kind !== 'PipelineRun') || typeof run.namespace !== 'string' || typeof run.name !== 'string' || typeof run.uid !== 'string') {
    throw new VouchError('STORE_INPUT_INVALID', 'the Tekton annotations store needs record.run (kind TaskRun or PipelineRun, namespace, name, uid)');
  }
  if (run.uid !== runUid) throw new VouchError('STORE_INPUT_INVALID', `record.run.uid ${run.uid} differs from record.runUid ${runUid}`);
  return run;
}

function predicateName(predicateType: string): string {
  return predicateType.length > 80 ? `${predicateType.slice(0, 77)}...` : predicateType;
}
