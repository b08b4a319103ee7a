// The admission engine: image reference -> digest -> attestations (stores, the log) -> each verified -> policy ->
// a verdict per image that explains itself. The webhook (webhook.ts) and `vouch verify` share it, so a deploy pipeline
// and the API server judge an image identically. Fail closed: any error judging an image is a denial naming the
// error, never an exception escaping to the caller.

import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { parseEnvelope, verifyEnvelope } from '../attest/dsse.ts';
import { LIMITS, verifyBundle, type PreparedTrustedRoot, type VerificationResult } from '../attest/verify.ts';
import { errorMessage, VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import {
  judge,
  PREDICATES,
  policyCovers,
  type AdmissionPolicy,
  type Evidence,
  type PolicyVerdict,
  type RejectedEvidence,
  type RuleResult,
  type VerifiedApproval,
  type VerifiedAttestation,
} from '../policy/admission.ts';
import { parseImageReference, resolveImageDigest, type AttestationStore } from '../store/index.ts';
import type { RegistryCredentials } from '../common/oci/registry.ts';
import type { RekorClient } from '../tlog/client.ts';

export interface EngineOptions {
  policies: AdmissionPolicy[];
  /** attestation stores to search by digest (local directory, OCI registry) */
  stores: AttestationStore[];
  /** directories of approval bundles (Sigstore bundles of approval statements, any *.json) */
  approvalDirs?: string[];
  /** a Rekor v1 log to ask `/api/v1/index/retrieve` by digest (audit: entries no store holds) */
  rekor?: RekorClient;
  /** the logs' trusted root; default: Sigstore public-good */
  trustedRoot?: PreparedTrustedRoot;
  /** what an image that no policy covers gets (default deny) */
  noMatch?: 'deny' | 'allow';
  /** accept a fresh, valid VSA from a trusted key instead of evaluating (the webhook does) */
  acceptVsa?: boolean;
  /** per registry request when resolving tags (default 3 s) */
  registryTimeoutMs?: number;
  cache?: { ttlMs: number; maxEntries: number };
  /** resolves a tag (tests, or a caller with its own registry client) */
  resolve?: (image: string, credentials: RegistryCredentials | undefined, timeoutMs: number) => Promise<{ registry: string; repository: string; digest: string }>;
  now?: () => Date;
}

export interface JudgeContext {
  /** '' for the CLI: namespaces do not narrow policies */
  namespace: string;
  /** registry credentials for tag resolution and OCI lookups (from imagePullSecrets) */
  credentials?: RegistryCredentials;
}

export interface ImageVerdict {
  /** the reference as written */
  image: string;
  repository: string;
  /** hex, '' when it could not be resolved */
  digest: string;
  allowed: boolean;
  /** how the verdict was reached */
  via: 'evaluated' | 'cache' | 'vsa' | 'no-policy' | 'error';
  policies: PolicyVerdict[];
  /** the failing rules, one line each: code, message, fix */
  reasons: string[];
  /** rules that warned (warn mode, effective_on in the future) and exceptions used */
  warnings: string[];
  /** the attestations counted (for a VSA's inputAttestations) */
  inputs: { uri: string; digest: { sha256: string } }[];
  logEntries?: string[];
}

const log = logger('admission');

/** An LRU by digest with a TTL and a size bound: admission of the same digest again costs a map lookup. */
class VerdictCache {
  private readonly map = new Map<string, { at: number; verdict: ImageVerdict }>();
  private readonly ttlMs: number;
  private readonly max: number;
  constructor(ttlMs: number, max: number) {
    this.ttlMs = ttlMs;
    this.max = max;
  }
  get(key: string, now: number): ImageVerdict | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    this.map.delete(key);
    if (now - hit.at > this.ttlMs) return undefined;
    this.map.set(key, hit);
    return hit.verdict;
  }
  set(key: string, verdict: ImageVerdict, now: number): void {
    this.map.delete(key);
    this.map.set(key, { at: now, verdict });
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
  }
}

/** Files per approvals directory the engine reads; more fails closed. */
const MAX_APPROVAL_FILES = 10_000;
/** Approval files no approver signed reported per commit (the rest are only left out). */
const MAX_NOT_SIGNED_REPORTED = 20;
/** How old a directory's mtime must be before an index built at that mtime is trusted (filesystem timestamp ticks). */
const MTIME_SETTLED_MS = 2000;

interface ApprovalIndex {
  mtimeMs: number;
  /** commit -> files an approver's key signed */
  byCommit: Map<string, string[]>;
  /** commit -> the first files naming it that no approver's key signed (for the report) */
  notSigned: Map<string, string[]>;
  unreadable: string[];
}

export class AdmissionEngine {
  readonly options: EngineOptions;
  readonly cache: VerdictCache;
  private readonly keys: Map<string, KeyObject>;
  /** the approvers' keys of every policy: an approval file none of them signed is never indexed */
  private readonly approverKeys: KeyObject[];
  private readonly approvalIndexes = new Map<string, ApprovalIndex>();
  private readonly now: () => Date;

  constructor(options: EngineOptions) {
    this.options = options;
    this.cache = new VerdictCache(options.cache?.ttlMs ?? 300_000, options.cache?.maxEntries ?? 10_000);
    this.now = options.now ?? (() => new Date());
    this.keys = new Map();
    this.approverKeys = options.policies.flatMap((p) => p.approvers.map((a) => a.key));
    for (const p of options.policies) {
      for (const k of p.keys) this.keys.set(k.keyId, k.key);
      for (const a of p.approvers) this.keys.set(a.keyId, a.key);
    }
  }

  /** Judges one image. Never throws: an error is a denial that names it. */
  async judgeImage(image: string, ctx: JudgeContext): Promise<ImageVerdict> {
    const base: ImageVerdict = { image, repository: '', digest: '', allowed: false, via: 'error', policies: [], reasons: [], warnings: [], inputs: [] };
    let ref;
    try {
      ref = parseImageReference(image);
    } catch (err) {
      return { ...base, reasons: [`image.reference: ${errorMessage(err)}`] };
    }
    const repository = `${ref.registry}/${ref.repository}`;
    base.repository = repository;
    const policies = this.options.policies.filter((p) => policyCovers(p, repository, ctx.namespace));
    if (policies.length === 0) {
      const allowed = this.options.noMatch === 'allow';
      return {
        ...base,
        digest: ref.digest ?? '',
        allowed,
        via: 'no-policy',
        reasons: allowed ? [] : [`policy.none: no admission policy covers ${repository}${ctx.namespace ? ` in namespace ${ctx.namespace}` : ''}; fix: add it to a policy's spec.images, or set admission.noMatch to allow`],
        warnings: allowed ? [`policy.none: no admission policy covers ${repository}; admitted because admission.noMatch is allow`] : [],
      };
    }
    let digest = ref.digest;
    if (digest === undefined) {
      try {
        const timeoutMs = this.options.registryTimeoutMs ?? 3000;
        const resolved = await (this.options.resolve ?? defaultResolve)(image, ctx.credentials, timeoutMs);
        digest = resolved.digest;
      } catch (err) {
        return { ...base, reasons: [`image.digest: the tag of ${image} cannot be resolved to a digest: ${errorMessage(err)}; fix: deploy by digest (image@sha256:…) or make the registry reachable`] };
      }
    }
    base.digest = digest;
    const key = `${digest}|${repository}|${policies.map((p) => p.name).join(',')}`;
    const t = this.now().getTime();
    const cached = this.cache.get(key, t);
    if (cached) return { ...cached, image, via: 'cache' };
    let verdict: ImageVerdict;
    try {
      verdict = await this.evaluate(image, repository, digest, policies);
    } catch (err) {
      log.warn({ image, err: errorMessage(err) }, 'admission engine error: denied');
      return { ...base, reasons: [`engine.error: ${errorMessage(err)}; fix: retry, or check the store and log are reachable`] };
    }
    // only admissions are cached: a denial (evidence or approvals not in yet, an error) is judged afresh next time,
    // so a Deployment applied before its attestations landed is admitted as soon as they have
    if (verdict.allowed) this.cache.set(key, verdict, t);
    return verdict;
  }

  private async evaluate(image: string, repository: string, digest: string, policies: AdmissionPolicy[]): Promise<ImageVerdict> {
    const evidence = await this.gather(repository, digest);
    const now = this.now();
    if (this.options.acceptVsa) {
      const vsa = this.freshVsa(evidence, policies, digest, now);
      if (vsa) return { image, repository, digest, allowed: true, via: 'vsa', policies: [], reasons: [], warnings: [], inputs: [vsa] };
    }
    const verdicts = policies.map((p) => judge(p, evidence, now));
    const failing = (r: RuleResult): boolean => r.outcome === 'fail';
    const reasons: string[] = [];
    const warnings: string[] = [];
    for (const v of verdicts) {
      for (const r of v.rules) {
        if (failing(r)) reasons.push(`${r.code}: ${r.message}${r.fix ? `; fix: ${r.fix}` : ''}`);
        if (r.outcome === 'warn') warnings.push(`${r.code}: ${r.message}`);
        if (r.outcome === 'excepted') warnings.push(`${r.code}: excepted until ${r.exception!.until.slice(0, 10)} (${r.exception!.reference})`);
      }
    }
    const trusted = new Set(policies.flatMap((p) => p.keys.map((k) => k.keyId)));
    const result: ImageVerdict = {
      image,
      repository,
      digest,
      allowed: verdicts.every((v) => v.allowed),
      via: 'evaluated',
      policies: verdicts,
      reasons,
      warnings,
      inputs: evidence.attestations.filter((a) => trusted.has(a.keyId)).map((a) => ({ uri: a.source, digest: { sha256: a.payloadSha256 } })),
    };
    if (evidence.logEntries) result.logEntries = evidence.logEntries;
    return result;
  }

  /** Finds and verifies everything about a digest: stores, approval directories, the log's index. */
  async gather(repository: string, digest: string): Promise<Evidence> {
    const evidence: Evidence = { image: { ref: `${repository}@sha256:${digest}`, repository, digest }, attestations: [], approvals: [], rejected: [] };
    // the log's index (what it holds about this digest, for the record) is asked while the stores are read; it
    // informs, it does not decide, so a log that is down costs nothing but the entry list
    const rekor = this.options.rekor;
    const logSearch = rekor
      ? rekor.searchIndex({ hash: `sha256:${digest}` }).catch((err: unknown) => {
          log.warn({ digest, err: errorMessage(err) }, 'the log index could not be searched');
          return undefined;
        })
      : Promise.resolve(undefined);
    const lists = await Promise.all(
      this.options.stores.map(async (s) => {
        try {
          return { store: s, records: await s.list(digest, repository) };
        } catch (err) {
          // a store that cannot be read is an engine error (fail closed), unless another store answered
          return { store: s, error: err };
        }
      }),
    );
    const errors = lists.filter((l) => 'error' in l);
    if (errors.length > 0 && errors.length === lists.length) throw errors[0]!.error;
    const seen = new Set<string>();
    for (const l of lists) {
      if (!('records' in l) || !l.records) continue;
      for (const record of l.records) {
        const source = `${l.store.kind}:${record.subject.name}/${record.predicateType}/${record.runUid}`;
        const v = this.verifyOne(record.bundle, { sha256: digest }, source, record.predicateType);
        if ('reason' in v) evidence.rejected.push(v);
        else {
          const id = `${v.result.statement?.predicateType ?? ''}|${v.payloadSha256}`;
          if (seen.has(id)) continue;
          seen.add(id);
          evidence.attestations.push(toAttestation(v.result, v.keyId, source, v.payloadSha256));
        }
      }
    }
    for (const a of evidence.rejected) log.debug({ digest, source: a.source, reason: a.reason }, 'attestation not counted');
    // approvals of every assessed head: which risk assessment counts (a trusted signer's) is the policy's to say
    const heads = new Set(
      evidence.attestations
        .filter((a) => a.predicateType === PREDICATES['risk-assessment'])
        .map((a) => (a.predicate as Record<string, unknown>)['headRevision'])
        .filter((h): h is string => typeof h === 'string' && /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(h)),
    );
    for (const head of heads) evidence.approvals.push(...(await this.approvalsFor(head, evidence.rejected)));
    const logEntries = await logSearch;
    if (logEntries) evidence.logEntries = logEntries;
    return evidence;
  }

  /** Verifies one bundle with the key it names (hint) or any trusted key; a result or the reason it does not count. */
  verifyOne(bundle: unknown, artifact: { sha256: string } | { gitCommit: string }, source: string, claimedType: string): { result: VerificationResult; keyId: string; payloadSha256: string } | RejectedEvidence {
    const vm = (bundle as { verificationMaterial?: { publicKey?: { hint?: unknown } } }).verificationMaterial;
    const hint = typeof vm?.publicKey?.hint === 'string' ? vm.publicKey.hint : '';
    const candidates = this.keys.has(hint) ? [[hint, this.keys.get(hint)!] as const] : [...this.keys.entries()];
    let last = hint !== '' && !this.keys.has(hint) ? `signed by key ${hint.slice(0, 12)}, which no policy trusts` : 'no trusted keys';
    for (const [keyId, publicKey] of candidates) {
      try {
        const result = verifyBundle({
          bundle,
          artifact,
          policy: { publicKey },
          ...(this.options.trustedRoot ? { trustedRoot: this.options.trustedRoot } : {}),
          now: this.now(),
        });
        if (result.tlogEntries.length === 0) {
          last = 'not in the transparency log (the bundle carries no log entry)';
          continue;
        }
        const payload = (bundle as { dsseEnvelope?: { payload?: string } }).dsseEnvelope?.payload ?? '';
        return { result, keyId, payloadSha256: createHash('sha256').update(Buffer.from(payload, 'base64')).digest('hex') };
      } catch (err) {
        if (candidates.length === 1 || hint === '' || keyId === hint) last = errorMessage(err);
      }
    }
    return { source, predicateType: claimedType, reason: last };
  }

  /**
   * Which approval bundles of a directory name which commits, rebuilt when the directory's mtime changes (files are
   * added, removed or renamed into place): admission of a new digest then reads only its own approvals. Each file is
   * still read and verified when it is used. Only files an approver's key signed are indexed, so that a flood of
   * others' statements cannot push one out; a directory with more files than the engine reads fails closed (a part
   * could leave out a rejection).
   */
  private async approvalIndex(dir: string): Promise<ApprovalIndex | undefined> {
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(dir)).mtimeMs;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new VouchError('IO', `cannot read the approvals directory ${dir}: ${errorMessage(err)}`);
    }
    const cached = this.approvalIndexes.get(dir);
    // a file created in the same mtime tick as the last build leaves the mtime as it was: an mtime this recent (or in
    // the future) proves nothing, so the index is rebuilt (a rejection that landed then must not stay invisible)
    if (cached && cached.mtimeMs === mtimeMs && Date.now() - mtimeMs > MTIME_SETTLED_MS) return cached;
    const index: ApprovalIndex = { mtimeMs, byCommit: new Map(), notSigned: new Map(), unreadable: [] };
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      throw new VouchError('IO', `cannot read the approvals directory ${dir}: ${errorMessage(err)}`);
    }
    if (names.length > MAX_APPROVAL_FILES) throw new VouchError('ADMISSION_DENIED', `the approvals directory ${dir} holds ${String(names.length)} files, more than the ${String(MAX_APPROVAL_FILES)} admission reads: failing closed`);
    for (const name of names) {
      const path = join(dir, name);
      const statement = await readApproval(path, this.approverKeys);
      if (statement === undefined) {
        index.unreadable.push(path);
        continue;
      }
      if (statement === null) continue;
      for (const commit of statement.commits) {
        const into = statement.signed ? index.byCommit : index.notSigned;
        const list = into.get(commit) ?? [];
        // the ones no approver signed are only reported, the first few
        if (statement.signed || list.length < MAX_NOT_SIGNED_REPORTED) list.push(path);
        into.set(commit, list);
      }
    }
    this.approvalIndexes.set(dir, index);
    return index;
  }

  private async approvalsFor(commit: string, rejected: RejectedEvidence[]): Promise<VerifiedApproval[]> {
    const out: VerifiedApproval[] = [];
    const dirs: string[] = [];
    for (const top of this.options.approvalDirs ?? []) dirs.push(...(await approvalDirsUnder(top)));
    for (const dir of dirs) {
      const index = await this.approvalIndex(dir);
      if (!index) continue;
      for (const path of index.unreadable) rejected.push({ source: path, predicateType: PREDICATES.approval, reason: 'not a JSON Sigstore bundle of an in-toto statement' });
      for (const path of index.notSigned.get(commit) ?? []) rejected.push({ source: path, predicateType: PREDICATES.approval, reason: 'signed by a key that no policy trusts as an approver\'s' });
      for (const path of index.byCommit.get(commit) ?? []) {
        let bundle: unknown;
        try {
          if ((await stat(path)).size > LIMITS.bundleBytes) continue;
          bundle = approvalBundleOf(JSON.parse(await readFile(path, 'utf8')));
        } catch {
          continue; // removed or replaced since the index was built
        }
        const v = this.verifyOne(bundle, { gitCommit: commit }, path, PREDICATES.approval);
        if ('reason' in v) {
          rejected.push(v);
          continue;
        }
        if (v.result.statement?.predicateType !== PREDICATES.approval) continue;
        const e = v.result.tlogEntries[0]!;
        out.push({ keyId: v.keyId, subjectCommit: commit, predicate: v.result.statement.predicate, source: path, log: { url: e.logBaseUrl, logIndex: e.logIndex, integratedTime: e.integratedTime ?? '' } });
      }
    }
    return out;
  }

  /** A VSA from a policy's key, PASSED, for this digest and this exact policy, younger than the policy allows. */
  private freshVsa(evidence: Evidence, policies: AdmissionPolicy[], digest: string, now: Date): { uri: string; digest: { sha256: string } } | undefined {
    for (const p of policies) {
      if (p.vsaMaxAgeSeconds <= 0) return undefined;
      const trusted = new Set(p.keys.map((k) => k.keyId));
      const ok = evidence.attestations.find((a) => {
        if (a.predicateType !== PREDICATES.vsa || !trusted.has(a.keyId)) return false;
        const v = a.predicate as Record<string, unknown>;
        const t = Date.parse(String(v['timeVerified']));
        const policyDigest = ((v['policy'] as Record<string, unknown> | undefined)?.['digest'] as Record<string, unknown> | undefined)?.['sha256'];
        return v['verificationResult'] === 'PASSED' && String(v['resourceUri']).endsWith(`@sha256:${digest}`) && policyDigest === p.digest && !Number.isNaN(t) && t <= now.getTime() + 60_000 && now.getTime() - t <= p.vsaMaxAgeSeconds * 1000;
      });
      if (!ok) return undefined;
      if (p === policies[policies.length - 1]) return { uri: ok.source, digest: { sha256: ok.payloadSha256 } };
    }
    return undefined;
  }
}

/**
 * An approval file holds a Sigstore bundle, bare (as `vouch approve --out` or a copy writes it) or inside the record
 * the sidecar's approvals API keeps (`{bundle, logEntry}`, src/sidecar/approvals.ts); the bundle is what is verified.
 */
function approvalBundleOf(json: unknown): unknown {
  if (typeof json === 'object' && json !== null && 'bundle' in json && !('dsseEnvelope' in json)) return json.bundle;
  return json;
}

/**
 * The directories of approval files under an approvals directory: itself, and the sidecar's `<namespace>/<run>/`
 * below it (two levels, no deeper, no symlinks followed). Each is indexed on its own, cached by its own mtime.
 */
async function approvalDirsUnder(top: string): Promise<string[]> {
  const out = [top];
  let level = [top];
  for (let depth = 0; depth < 2; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        continue; // missing: nothing approved yet; unreadable: approvalIndex says so
      }
      for (const e of entries) if (e.isDirectory()) next.push(join(dir, e.name));
    }
    out.push(...next);
    level = next;
  }
  return out;
}

/** The commits an approval bundle's (unverified) statement names; null for other statements, undefined when unreadable. */
/** The commits an approval file names, and whether one of `keys` signed its envelope; null: not an approval. */
async function readApproval(path: string, keys: readonly KeyObject[]): Promise<{ commits: string[]; signed: boolean } | null | undefined> {
  try {
    if ((await stat(path)).size > LIMITS.bundleBytes) return undefined;
    const bundle = approvalBundleOf(JSON.parse(await readFile(path, 'utf8'))) as { dsseEnvelope?: { payload?: unknown } } | undefined;
    const payload = bundle?.dsseEnvelope?.payload;
    if (typeof payload !== 'string') return undefined;
    const statement = JSON.parse(Buffer.from(payload, 'base64').toString('utf8')) as { predicateType?: unknown; subject?: unknown };
    if (statement.predicateType !== PREDICATES.approval) return null;
    const subjects = Array.isArray(statement.subject) ? (statement.subject as { digest?: { gitCommit?: unknown } }[]) : [];
    const envelope = parseEnvelope(bundle?.dsseEnvelope, path);
    return { commits: subjects.map((x) => x.digest?.gitCommit).filter((c): c is string => typeof c === 'string'), signed: keys.some((k) => verifyEnvelope(envelope, k)) };
  } catch {
    return undefined;
  }
}

function toAttestation(result: VerificationResult, keyId: string, source: string, payloadSha256: string): VerifiedAttestation {
  const e = result.tlogEntries[0]!;
  return {
    predicateType: result.statement?.predicateType ?? '',
    predicate: result.statement?.predicate ?? {},
    keyId,
    source,
    payloadSha256,
    log: { url: e.logBaseUrl, logIndex: e.logIndex, integratedTime: e.integratedTime ?? '' },
  };
}

async function defaultResolve(image: string, credentials: RegistryCredentials | undefined, timeoutMs: number): Promise<{ registry: string; repository: string; digest: string }> {
  return resolveImageDigest(image, { timeoutMs, retries: 0, ...(credentials ? { credentials } : {}) });
}
