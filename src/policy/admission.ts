// The admission policy (docs/admission.md): which images in which namespaces must prove what, and the judge that turns
// verified evidence into a verdict that explains itself. This room does no cryptography on evidence: src/admission
// verifies signatures, log inclusion and subjects, and hands over only what verified, with the key id that signed it.
//
// Policy YAML (one or more documents, or a ConfigMap whose data values are such documents):
//   apiVersion: vouch.dev/v1alpha1
//   kind: AdmissionPolicy
//   metadata: {name: prod}
//   spec:
//     mode: enforce | warn
//     namespaces: [prod, 'prod-*']          # globs; none: every judged namespace
//     images: ['registry.example/**']       # globs over registry/repository (* within a segment, ** across)
//     keys: [{name, key: PEM | file: path}] # who may sign the pipeline's attestations
//     builderIds: [https://tekton.dev/chains/v2]
//     require: [provenance, test-result, sbom, vulns, risk-assessment, approvals]
//     approvers: [{id, key | file, groups: [security], accounts: [github:alice]}]
//     sources: [{repository: glob, branches: [glob]}]
//     blockSeverities: [critical]
//     rules: [{code, description, condition: CEL, fix, mode?, effectiveOn?}]
//     exceptions: [{rules: [code|*], images: [glob|digest], until: RFC3339/date, reference}]
//     breakGlass: {annotation: vouch.dev/break-glass}
//     vsa: {maxAgeSeconds: 3600}
// Unknown keys and wrong kinds are errors with their path (fail closed: a typo never weakens a policy).

import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { celEnv, isCelError, parse as celParse, plan as celPlan, type CelInput } from '@bufbuild/cel';
import { parseAllDocuments } from 'yaml';
import { VouchError, errorMessage } from '../common/errors.ts';
import { checkAccount, normalizeAccount, partyRefusal } from './approvals.ts';
import { provenanceView, SLSA_PROVENANCE_V02, SLSA_PROVENANCE_V1, type ProvenanceView } from './provenance-view.ts';

export { provenanceView, SLSA_PROVENANCE_V1, SLSA_PROVENANCE_V02, type ProvenanceView } from './provenance-view.ts';

// Predicate types. The policy room may not import attest (DESIGN.md §2), so they are spelled here as well as in
// src/attest/predicates.ts; test/policy/predicates.test.ts keeps the two equal.
export const PREDICATES = {
  provenance: SLSA_PROVENANCE_V1,
  'test-result': 'https://in-toto.io/attestation/test-result/v0.1',
  sbom: 'https://cyclonedx.org/bom',
  vulns: 'https://in-toto.io/attestation/vulns/v0.1',
  vsa: 'https://slsa.dev/verification_summary/v1',
  'agent-run': 'https://vouch.dev/attestation/agent-run/v0.1',
  'risk-assessment': 'https://vouch.dev/attestation/risk-assessment/v0.1',
  approval: 'https://vouch.dev/attestation/approval/v0.1',
} as const;
export type PredicateName = keyof typeof PREDICATES;

/** The builder id of Tekton Chains and of vouch's sidecar (which speaks Chains' format). */
export const CHAINS_BUILDER_ID = 'https://tekton.dev/chains/v2';
export const BREAK_GLASS_ANNOTATION = 'vouch.dev/break-glass';

export type Mode = 'enforce' | 'warn';

export interface TrustedKey {
  name: string;
  key: KeyObject;
  /** sha256 of the DER SubjectPublicKeyInfo, hex (the key id vouch uses everywhere) */
  keyId: string;
}

export interface Approver extends TrustedKey {
  /** the identity approvals name as reviewer.id */
  id: string;
  groups: string[];
  /** forge accounts "<forge>:<login>": an approver who requested the change (risk predicate `requestedBy`) never approves it */
  accounts: string[];
}

export interface CelRule {
  code: string;
  description: string;
  condition: string;
  fix: string;
  mode?: Mode;
  effectiveOn?: Date;
  program: (bindings: Record<string, CelInput>) => unknown;
}

export interface PolicyException {
  rules: string[];
  images: string[];
  until: Date;
  reference: string;
}

export interface AdmissionPolicy {
  name: string;
  /** where it came from (file path and document index) */
  source: string;
  /** sha256 of the source text, for the VSA's policy.digest */
  digest: string;
  mode: Mode;
  namespaces: string[];
  images: string[];
  keys: TrustedKey[];
  builderIds: string[];
  /** required predicate names (keys of PREDICATES) plus 'approvals' */
  require: string[];
  approvers: Approver[];
  sources: { repository: string; branches: string[] }[];
  blockSeverities: string[];
  rules: CelRule[];
  exceptions: PolicyException[];
  breakGlassAnnotation: string;
  vsaMaxAgeSeconds: number;
}

// ---------------------------------------------------------------------------------------------- globs and matching

/** policy-controller's glob: `*` within one path segment, `**` across segments, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const globCache = new Map<string, RegExp>();
export function globMatch(glob: string, value: string): boolean {
  let re = globCache.get(glob);
  if (!re) {
    re = globToRegExp(glob);
    if (globCache.size < 10_000) globCache.set(glob, re);
  }
  return re.test(value);
}

/** Whether a policy covers an image (`registry/repository`) in a namespace ('' for the CLI: namespaces do not narrow). */
export function policyCovers(policy: AdmissionPolicy, repository: string, namespace: string): boolean {
  if (namespace !== '' && policy.namespaces.length > 0 && !policy.namespaces.some((g) => globMatch(g, namespace))) return false;
  return policy.images.some((g) => globMatch(g, repository));
}

// ---------------------------------------------------------------------------------------------- parsing

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Reader {
  readonly source: string;
  readonly baseDir: string;
  constructor(source: string, baseDir: string) {
    this.source = source;
    this.baseDir = baseDir;
  }
  fail(path: string, why: string): never {
    throw new VouchError('POLICY_INVALID', `${this.source}: ${path}: ${why}`, { details: { source: this.source, path } });
  }
  only(o: Obj, keys: string[], path: string): void {
    for (const k of Object.keys(o)) if (!keys.includes(k)) this.fail(`${path}.${k}`, `unknown field (known: ${keys.join(', ')})`);
  }
  obj(v: unknown, path: string): Obj {
    if (v === undefined || v === null) return {};
    if (!isObj(v)) this.fail(path, 'must be a mapping');
    return v;
  }
  list(v: unknown, path: string): unknown[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v as unknown[];
  }
  string(v: unknown, path: string, required = false): string {
    if (v === undefined || v === null) return required ? this.fail(path, 'is required') : '';
    if (typeof v !== 'string') this.fail(path, 'must be a string');
    if (required && v === '') this.fail(path, 'must not be empty');
    return v;
  }
  strings(v: unknown, path: string): string[] {
    return this.list(v, path).map((s, i) => this.string(s, `${path}[${String(i)}]`, true));
  }
  date(v: unknown, path: string): Date {
    const s = v instanceof Date ? v.toISOString() : this.string(v, path, true);
    const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(s) ? `${s}T00:00:00Z` : s);
    if (Number.isNaN(d.getTime())) this.fail(path, `${JSON.stringify(s)} is not a date (YYYY-MM-DD or RFC 3339)`);
    return d;
  }
  key(o: Obj, path: string): KeyObject {
    const inline = this.string(o['key'], `${path}.key`);
    const file = this.string(o['file'], `${path}.file`);
    if ((inline === '') === (file === '')) this.fail(path, 'give exactly one of key (PEM) or file');
    let pem = inline;
    if (file !== '') {
      try {
        pem = readFileSync(resolve(this.baseDir, file), 'utf8');
      } catch (err) {
        this.fail(`${path}.file`, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
      }
    }
    return parseKey(pem, `${this.source}: ${path}`);
  }
}

/** A PEM public key (SPKI) as a trusted key; ECDSA P-256/P-384 and Ed25519. */
export function parseKey(pem: string | Buffer, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new VouchError('KEY_INVALID', `${source}: not a PEM public key`);
  }
  const t = key.asymmetricKeyType;
  if (t !== 'ec' && t !== 'ed25519') throw new VouchError('KEY_INVALID', `${source}: unsupported key type ${t ?? 'unknown'}; use ECDSA or Ed25519`);
  return key;
}

export function keyIdOf(key: KeyObject): string {
  return createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
}

const RULE_CODE = /^[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*$/;
const REQUIRABLE = ['provenance', 'test-result', 'sbom', 'vulns', 'risk-assessment', 'agent-run', 'approvals'];
const SEVERITIES = ['critical', 'high', 'medium', 'low'];

/** Parses policy text (YAML; several documents, or a ConfigMap holding them). Throws POLICY_INVALID with the path. */
export function parseAdmissionPolicies(text: string, source: string, baseDir = '.'): AdmissionPolicy[] {
  const docs = parseAllDocuments(text);
  const out: AdmissionPolicy[] = [];
  const digest = createHash('sha256').update(text).digest('hex');
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((doc, i) => {
    if (doc.errors.length > 0) throw new VouchError('POLICY_INVALID', `${source}: document ${String(i + 1)} is not valid YAML: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (isObj(value) && value['kind'] === 'ConfigMap') {
      const data = isObj(value['data']) ? value['data'] : {};
      for (const [k, v] of Object.entries(data)) {
        if (typeof v === 'string') out.push(...parseAdmissionPolicies(v, `${source} (ConfigMap data ${k})`, baseDir).map((p) => ({ ...p, digest })));
      }
      return;
    }
    out.push(parseOne(value, new Reader(list.length > 1 ? `${source}#${String(i + 1)}` : source, baseDir), digest));
  });
  if (out.length === 0) throw new VouchError('POLICY_INVALID', `${source}: holds no AdmissionPolicy`);
  // each policy's digest names the file AND the policy: a VSA signed for one policy of a file must never pass as a
  // verdict of another policy in the same file (a lenient dev policy beside a strict prod one)
  for (const p of out) p.digest = createHash('sha256').update(`${digest}\0${p.name}`).digest('hex');
  const names = new Set<string>();
  for (const p of out) {
    if (names.has(p.name)) throw new VouchError('POLICY_INVALID', `${source}: two policies are named ${JSON.stringify(p.name)}`);
    names.add(p.name);
  }
  return out;
}

export function loadAdmissionPolicies(path: string): AdmissionPolicy[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new VouchError('IO', `cannot read the policy ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
  return parseAdmissionPolicies(text, path, dirname(resolve(path)));
}

function parseOne(value: unknown, r: Reader, digest: string): AdmissionPolicy {
  const doc = r.obj(value, '(document)');
  r.only(doc, ['apiVersion', 'kind', 'metadata', 'spec'], '(document)');
  if (doc['apiVersion'] !== 'vouch.dev/v1alpha1') r.fail('apiVersion', `must be vouch.dev/v1alpha1, not ${JSON.stringify(doc['apiVersion'])}`);
  if (doc['kind'] !== 'AdmissionPolicy') r.fail('kind', `must be AdmissionPolicy, not ${JSON.stringify(doc['kind'])}`);
  const name = r.string(r.obj(doc['metadata'], 'metadata')['name'], 'metadata.name', true);
  const s = r.obj(doc['spec'], 'spec');
  r.only(s, ['mode', 'namespaces', 'images', 'keys', 'builderIds', 'require', 'approvers', 'sources', 'blockSeverities', 'rules', 'exceptions', 'breakGlass', 'vsa'], 'spec');
  const mode = (r.string(s['mode'], 'spec.mode') || 'enforce') as Mode;
  if (mode !== 'enforce' && mode !== 'warn') r.fail('spec.mode', 'must be enforce or warn');
  const images = r.strings(s['images'], 'spec.images');
  if (images.length === 0) r.fail('spec.images', 'list at least one image glob (e.g. "registry.example/**", or "**" for every image)');
  const keys = r.list(s['keys'], 'spec.keys').map((k, i) => {
    const path = `spec.keys[${String(i)}]`;
    const o = r.obj(k, path);
    r.only(o, ['name', 'key', 'file'], path);
    const key = r.key(o, path);
    return { name: r.string(o['name'], `${path}.name`) || `key ${String(i + 1)}`, key, keyId: keyIdOf(key) };
  });
  if (keys.length === 0) r.fail('spec.keys', 'list at least one trusted signer key: a policy without keys would trust anyone');
  const require = r.strings(s['require'], 'spec.require');
  require.forEach((q, i) => {
    if (!REQUIRABLE.includes(q)) r.fail(`spec.require[${String(i)}]`, `unknown requirement ${JSON.stringify(q)} (known: ${REQUIRABLE.join(', ')})`);
  });
  if (!require.includes('provenance')) require.unshift('provenance');
  const approvers = r.list(s['approvers'], 'spec.approvers').map((a, i) => {
    const path = `spec.approvers[${String(i)}]`;
    const o = r.obj(a, path);
    r.only(o, ['id', 'key', 'file', 'groups', 'accounts'], path);
    const key = r.key(o, path);
    const id = r.string(o['id'], `${path}.id`, true);
    const accounts = r.strings(o['accounts'], `${path}.accounts`);
    accounts.forEach((x, j) => {
      const bad = checkAccount(x);
      if (bad !== undefined) r.fail(`${path}.accounts[${String(j)}]`, bad);
    });
    return { id, name: id, key, keyId: keyIdOf(key), groups: r.strings(o['groups'], `${path}.groups`), accounts };
  });
  // one account, one approver: an account listed for two approvers would let the requester approve under the other id
  const accountOwner = new Map<string, string>();
  approvers.forEach((a, i) => {
    a.accounts.forEach((x, j) => {
      const at = `spec.approvers[${String(i)}].accounts[${String(j)}]`;
      const first = accountOwner.get(normalizeAccount(x));
      if (first !== undefined) r.fail(at, `one account, one approver: ${x} is already listed (${first})`);
      accountOwner.set(normalizeAccount(x), at);
    });
  });
  // approvals count per distinct approver: two ids with one key would let one key holder count twice
  approvers.forEach((a, i) => {
    const first = approvers.findIndex((b) => b.keyId === a.keyId || b.id === a.id);
    if (first < i) r.fail(`spec.approvers[${String(i)}]`, approvers[first]!.id === a.id ? `duplicate id ${a.id}` : `one key, one approver: this key is already ${approvers[first]!.id}'s (spec.approvers[${String(first)}])`);
  });
  if (require.includes('approvals') && !require.includes('risk-assessment')) require.push('risk-assessment');
  const sources = r.list(s['sources'], 'spec.sources').map((x, i) => {
    const path = `spec.sources[${String(i)}]`;
    const o = r.obj(x, path);
    r.only(o, ['repository', 'branches'], path);
    return { repository: r.string(o['repository'], `${path}.repository`, true), branches: r.strings(o['branches'], `${path}.branches`) };
  });
  const blockSeverities = s['blockSeverities'] === undefined ? ['critical'] : r.strings(s['blockSeverities'], 'spec.blockSeverities').map((x) => x.toLowerCase());
  blockSeverities.forEach((x, i) => {
    if (!SEVERITIES.includes(x)) r.fail(`spec.blockSeverities[${String(i)}]`, `must be one of ${SEVERITIES.join(', ')}`);
  });
  const codes = new Set<string>();
  const rules = r.list(s['rules'], 'spec.rules').map((x, i) => {
    const path = `spec.rules[${String(i)}]`;
    const o = r.obj(x, path);
    r.only(o, ['code', 'description', 'condition', 'fix', 'mode', 'effectiveOn', 'effective_on'], path);
    const code = r.string(o['code'], `${path}.code`, true);
    if (!RULE_CODE.test(code)) r.fail(`${path}.code`, 'must be lowercase words joined by . or - (a stable code, e.g. source.main-branch)');
    if (codes.has(code) || BUILTIN_CODES.includes(code)) r.fail(`${path}.code`, `${code} is used twice or by a built-in rule`);
    codes.add(code);
    const condition = r.string(o['condition'], `${path}.condition`, true);
    const ruleMode = r.string(o['mode'], `${path}.mode`);
    if (ruleMode !== '' && ruleMode !== 'enforce' && ruleMode !== 'warn') r.fail(`${path}.mode`, 'must be enforce or warn');
    const eff = o['effectiveOn'] ?? o['effective_on'];
    const rule: CelRule = {
      code,
      description: r.string(o['description'], `${path}.description`) || code,
      condition,
      fix: r.string(o['fix'], `${path}.fix`),
      program: compileCel(condition, `${r.source}: ${path}.condition`),
    };
    if (ruleMode !== '') rule.mode = ruleMode;
    if (eff !== undefined) rule.effectiveOn = r.date(eff, `${path}.effectiveOn`);
    return rule;
  });
  const exceptions = r.list(s['exceptions'], 'spec.exceptions').map((x, i) => {
    const path = `spec.exceptions[${String(i)}]`;
    const o = r.obj(x, path);
    r.only(o, ['rules', 'images', 'until', 'reference'], path);
    const ex = { rules: r.strings(o['rules'], `${path}.rules`), images: r.strings(o['images'], `${path}.images`), until: r.date(o['until'], `${path}.until`), reference: r.string(o['reference'], `${path}.reference`, true) };
    if (ex.rules.length === 0 || ex.images.length === 0) r.fail(path, 'an exception names the rules (or "*") and the images it applies to');
    return ex;
  });
  const bg = r.obj(s['breakGlass'], 'spec.breakGlass');
  r.only(bg, ['annotation'], 'spec.breakGlass');
  const vsa = r.obj(s['vsa'], 'spec.vsa');
  r.only(vsa, ['maxAgeSeconds'], 'spec.vsa');
  const maxAge = vsa['maxAgeSeconds'] ?? 3600;
  if (typeof maxAge !== 'number' || !Number.isInteger(maxAge) || maxAge < 0) r.fail('spec.vsa.maxAgeSeconds', 'must be a non-negative integer (0: never accept a VSA instead of evaluating)');
  return {
    name,
    source: r.source,
    digest,
    mode,
    namespaces: r.strings(s['namespaces'], 'spec.namespaces'),
    images,
    keys,
    builderIds: s['builderIds'] === undefined ? [CHAINS_BUILDER_ID] : r.strings(s['builderIds'], 'spec.builderIds'),
    require,
    approvers,
    sources,
    blockSeverities,
    rules,
    exceptions,
    breakGlassAnnotation: r.string(bg['annotation'], 'spec.breakGlass.annotation') || BREAK_GLASS_ANNOTATION,
    vsaMaxAgeSeconds: maxAge,
  };
}

/**
 * The documented default policy (`vouch verify` without --policy; docs/admission.md): every image, signed by one of
 * the given keys, SLSA provenance from Chains' / vouch's builder, every gate's evidence present and passed (tests,
 * SBOM, vulnerability scan without criticals, risk assessment), and the approvals the risk tier requires, signed by
 * the given approvers.
 */
export function defaultPolicy(keys: TrustedKey[], approvers: Approver[] = []): AdmissionPolicy {
  if (keys.length === 0) throw new VouchError('USAGE', 'the default policy needs at least one --key: who must have signed the evidence');
  return {
    name: 'default',
    source: 'built-in default policy (docs/admission.md)',
    digest: createHash('sha256').update(JSON.stringify({ v: 1, keys: keys.map((k) => k.keyId), approvers: approvers.map((a) => [a.id, a.keyId, a.groups]) })).digest('hex'),
    mode: 'enforce',
    namespaces: [],
    images: ['**'],
    keys,
    builderIds: [CHAINS_BUILDER_ID],
    require: ['provenance', 'test-result', 'sbom', 'vulns', 'risk-assessment', 'approvals'],
    approvers,
    sources: [],
    blockSeverities: ['critical'],
    rules: [],
    exceptions: [],
    breakGlassAnnotation: BREAK_GLASS_ANNOTATION,
    vsaMaxAgeSeconds: 3600,
  };
}

// ---------------------------------------------------------------------------------------------- CEL

const CEL_ENV = celEnv();

/** Compiles a CEL condition once; a syntax error is POLICY_INVALID at load time, not at admission time. */
export function compileCel(condition: string, source: string): (bindings: Record<string, CelInput>) => unknown {
  let parsed;
  try {
    parsed = celParse(condition);
  } catch (err) {
    throw new VouchError('POLICY_INVALID', `${source}: not a valid CEL expression: ${errorMessage(err).split('\n')[0]!}`);
  }
  const program = celPlan(CEL_ENV, parsed);
  return (bindings) => program(bindings);
}

/** Runs a compiled condition: true, false, or the reason it could not be decided (errors come back as values). */
export function runCel(program: CelRule['program'], bindings: Record<string, CelInput>): { ok: boolean; error?: string } {
  let result: unknown;
  try {
    result = program(bindings);
  } catch (err) {
    return { ok: false, error: errorMessage(err).split('\n')[0]! };
  }
  if (isCelError(result)) return { ok: false, error: result.message.split('\n')[0]! };
  if (typeof result !== 'boolean') return { ok: false, error: `the condition gave ${typeof result}, not a boolean` };
  return { ok: result };
}

// ---------------------------------------------------------------------------------------------- evidence and verdict

/** One attestation that verified (signature by a trusted key, log inclusion, subject = the image digest). */
export interface VerifiedAttestation {
  predicateType: string;
  predicate: unknown;
  /** key id of the signer */
  keyId: string;
  /** where it was found: `local:<path>`, `oci:<ref>`, … */
  source: string;
  /** sha256 of the DSSE payload (the statement's bytes) */
  payloadSha256: string;
  log: { url: string; logIndex: string; integratedTime: string };
}

/** An approval statement (subject: a git commit) that verified, signed by some key. */
export interface VerifiedApproval {
  keyId: string;
  subjectCommit: string;
  predicate: unknown;
  source: string;
  log: { url: string; logIndex: string; integratedTime: string };
}

/** An attestation found but not counted, and why (wrong signer, tampered, not in the log, other subject…). */
export interface RejectedEvidence {
  source: string;
  predicateType: string;
  reason: string;
}

export interface Evidence {
  image: { ref: string; repository: string; digest: string };
  attestations: VerifiedAttestation[];
  approvals: VerifiedApproval[];
  rejected: RejectedEvidence[];
  /** what the log says about this digest (entry ids), when it was asked */
  logEntries?: string[];
}

export type Outcome = 'pass' | 'fail' | 'warn' | 'excepted';

export interface RuleResult {
  code: string;
  title: string;
  outcome: Outcome;
  message: string;
  /** the evidence looked at */
  evidence: string[];
  fix: string;
  effectiveOn?: string;
  exception?: { reference: string; until: string };
}

export interface PolicyVerdict {
  policy: string;
  mode: Mode;
  allowed: boolean;
  rules: RuleResult[];
}

export const BUILTIN_CODES = [
  'signature.verified',
  'provenance.present',
  'provenance.builder',
  'provenance.source',
  'gates.passed',
  'tests.passed',
  'sbom.present',
  'vulns.none-blocking',
  'risk.present',
  'approvals.satisfied',
  'agent-run.present',
];

interface Draft {
  code: string;
  title: string;
  ok: boolean;
  message: string;
  evidence: string[];
  fix: string;
  mode?: Mode;
  effectiveOn?: Date;
}

const short = (hex: string): string => hex.slice(0, 12);
const ev = (a: VerifiedAttestation): string => `${a.predicateType} signed by key ${short(a.keyId)}, log ${a.log.url} #${a.log.logIndex} (${a.source})`;

/** Judges one image's verified evidence against one policy. Pure: the same input gives the same verdict. */
export function judge(policy: AdmissionPolicy, evidence: Evidence, now: Date = new Date()): PolicyVerdict {
  const trusted = new Set(policy.keys.map((k) => k.keyId));
  const atts = evidence.attestations.filter((a) => trusted.has(a.keyId));
  const otherSigners = evidence.attestations.filter((a) => !trusted.has(a.keyId));
  const of = (type: string): VerifiedAttestation[] => atts.filter((a) => a.predicateType === type);
  const drafts: Draft[] = [];
  const requires = (x: string): boolean => policy.require.includes(x);

  // signature.verified
  const rejectedLines = [
    ...evidence.rejected.map((r) => `rejected ${r.predicateType || '(unknown type)'} from ${r.source}: ${r.reason}`),
    ...otherSigners.map((a) => `rejected ${a.predicateType} from ${a.source}: signed by key ${short(a.keyId)}, which policy ${policy.name} does not trust`),
  ];
  drafts.push({
    code: 'signature.verified',
    title: 'attestations signed by a trusted key, in the transparency log, about this digest',
    ok: atts.length > 0,
    message: atts.length > 0 ? `${String(atts.length)} attestation(s) verified` : `no attestation for sha256:${evidence.image.digest} verified with the policy's keys (${policy.keys.map((k) => `${k.name} ${short(k.keyId)}`).join(', ')})`,
    evidence: [...atts.map(ev), ...rejectedLines],
    fix: 'build the image with the vouch pipeline so the sidecar signs and logs its attestations, or add the signer\'s public key to spec.keys',
  });

  // provenance
  const provAtts = [...of(SLSA_PROVENANCE_V1), ...of(SLSA_PROVENANCE_V02)];
  const views: { att: VerifiedAttestation; view: ProvenanceView }[] = provAtts.map((att) => ({ att, view: provenanceView(att.predicateType, att.predicate)! }));
  drafts.push({
    code: 'provenance.present',
    title: 'SLSA provenance (v1 or v0.2) for this digest',
    ok: views.length > 0,
    message: views.length > 0 ? `${String(views.length)} provenance attestation(s)` : 'no verified SLSA provenance for this digest',
    evidence: provAtts.map(ev),
    fix: 'the image must be built by a Tekton pipeline the vouch sidecar (or Tekton Chains) attests',
  });
  const fromBuilder = views.filter((v) => policy.builderIds.includes(v.view.builderId));
  if (views.length > 0) {
    drafts.push({
      code: 'provenance.builder',
      title: 'built by a trusted builder',
      ok: fromBuilder.length > 0,
      message: fromBuilder.length > 0 ? `builder ${fromBuilder[0]!.view.builderId}` : `builder id(s) ${views.map((v) => JSON.stringify(v.view.builderId)).join(', ')} not in ${policy.builderIds.join(', ')}`,
      evidence: views.map((v) => `${v.att.predicateType}: builder ${v.view.builderId}, buildType ${v.view.buildType}`),
      fix: 'build with a trusted builder, or add its id to spec.builderIds',
    });
  }
  const prov = fromBuilder[0]?.view;
  if (policy.sources.length > 0) {
    const src = prov?.source;
    const branch = prov ? text(prov.results['CHAINS-GIT_BRANCH']) || text(prov.results['BRANCH']) : '';
    const hit = src && policy.sources.find((s) => globMatch(s.repository, src.repository.replace(/\.git$/, '')) && (s.branches.length === 0 || s.branches.some((b) => globMatch(b, branch))));
    drafts.push({
      code: 'provenance.source',
      title: 'built from an allowed repository and branch',
      ok: Boolean(hit),
      message: src ? `source ${src.repository || '(unknown)'} at ${src.commit || '(unknown)'}${branch ? ` on ${branch}` : ''}` : 'no provenance names a source',
      evidence: src ? [`provenance source: ${src.repository}@${src.commit}`] : [],
      fix: `build from one of: ${policy.sources.map((s) => s.repository + (s.branches.length ? ` (${s.branches.join(', ')})` : '')).join('; ')}`,
    });
  }

  // gates: every task the provenance records succeeded; TEST_OUTPUT (Konflux convention) not failing
  if (prov) {
    const failed: string[] = [];
    const lines: string[] = [];
    for (const t of prov.tasks) {
      if (t.status !== '' && t.status !== 'Succeeded') failed.push(`task ${t.name}: ${t.status}`);
      const to = parseTestOutput(t.results['TEST_OUTPUT']);
      if (to) {
        lines.push(`task ${t.name}: TEST_OUTPUT ${to}`);
        if (to === 'FAILURE' || to === 'ERROR') failed.push(`task ${t.name}: TEST_OUTPUT ${to}`);
      }
    }
    drafts.push({
      code: 'gates.passed',
      title: 'every task of the pipeline succeeded and no gate reported FAILURE or ERROR',
      ok: failed.length === 0,
      message: failed.length === 0 ? `${String(prov.tasks.length)} task(s) recorded, none failed` : failed.join('; '),
      evidence: [...prov.tasks.map((t) => `task ${t.name}: ${t.status || 'status not recorded'}${t.ref.uri ? ` (${t.ref.uri}${t.ref.pinned ? ', pinned' : ', not pinned'})` : ''}`), ...lines],
      fix: 'fix what the failing gate reports and rebuild through the pipeline',
    });
  }

  // test results
  const tests = of(PREDICATES['test-result']);
  if (requires('test-result') || tests.length > 0) {
    const bad = tests.filter((a) => field(a.predicate, 'result') !== 'PASSED' && field(a.predicate, 'result') !== 'WARNED');
    drafts.push({
      code: 'tests.passed',
      title: 'test-result attestation present and PASSED',
      ok: tests.length > 0 && bad.length === 0,
      message: tests.length === 0 ? 'no verified test-result attestation' : bad.length > 0 ? `test result ${bad.map((a) => String(field(a.predicate, 'result'))).join(', ')}: failed tests ${bad.flatMap((a) => listField(a.predicate, 'failedTests')).slice(0, 5).join(', ') || '(none named)'}` : 'tests passed',
      evidence: tests.map((a) => `${ev(a)}: result ${String(field(a.predicate, 'result'))}`),
      fix: tests.length === 0 ? 'run the test stage in the pipeline so its evidence is attested' : 'fix the failing tests and rebuild',
    });
  }
  const sboms = of(PREDICATES.sbom);
  if (requires('sbom')) {
    drafts.push({
      code: 'sbom.present',
      title: 'CycloneDX SBOM attestation present',
      ok: sboms.some((a) => field(a.predicate, 'bomFormat') === 'CycloneDX'),
      message: sboms.length === 0 ? 'no verified SBOM attestation' : `${String(sboms.length)} SBOM(s)`,
      evidence: sboms.map((a) => `${ev(a)}: ${String(field(a.predicate, 'bomFormat'))} ${String(field(a.predicate, 'specVersion'))}`),
      fix: 'run the sbom stage in the pipeline',
    });
  }
  const vulns = of(PREDICATES.vulns);
  if (requires('vulns') || vulns.length > 0) {
    const blocking = vulns.flatMap((a) => blockingVulns(a.predicate, policy.blockSeverities));
    drafts.push({
      code: 'vulns.none-blocking',
      title: `vulnerability scan present, no ${policy.blockSeverities.join('/')} findings`,
      ok: vulns.length > 0 && blocking.length === 0,
      message: vulns.length === 0 ? 'no verified vulnerability scan attestation' : blocking.length > 0 ? `${String(blocking.length)} blocking finding(s): ${blocking.slice(0, 5).join(', ')}` : 'no blocking findings',
      evidence: vulns.map((a) => `${ev(a)}: ${String(arrayField(obj(field(a.predicate, 'scanner')), 'result').length)} finding(s)`),
      fix: vulns.length === 0 ? 'run the sca stage in the pipeline' : 'upgrade the affected packages, or record a time-limited exception with a reference',
    });
  }
  const agentRuns = of(PREDICATES['agent-run']);
  if (requires('agent-run')) {
    drafts.push({ code: 'agent-run.present', title: 'agent run attestation present', ok: agentRuns.length > 0, message: agentRuns.length > 0 ? 'agent run recorded' : 'no verified agent-run attestation', evidence: agentRuns.map(ev), fix: 'run the agent through the agent-run stage' });
  }

  // risk and approvals
  const risks = of(PREDICATES['risk-assessment']);
  const risk = risks.length > 0 ? obj(risks[risks.length - 1]!.predicate) : undefined;
  if (requires('risk-assessment')) {
    drafts.push({
      code: 'risk.present',
      title: 'risk assessment attestation present',
      ok: risk !== undefined,
      message: risk ? `tier ${String(risk['tier'])}` : 'no verified risk-assessment attestation',
      evidence: risks.map((a) => `${ev(a)}: tier ${String(field(a.predicate, 'tier'))}`),
      fix: 'run the classify stage in the pipeline',
    });
  }
  const approvalCheck = checkApprovals(policy, risk, prov, evidence.approvals);
  if (requires('approvals')) drafts.push(approvalCheck.draft);

  // CEL rules
  const bindings = celBindings(evidence, atts, prov, risk, approvalCheck.valid, now);
  for (const rule of policy.rules) {
    const r = runCel(rule.program, bindings);
    const d: Draft = {
      code: rule.code,
      title: rule.description,
      ok: r.ok,
      message: r.error !== undefined ? `the condition could not be evaluated: ${r.error}` : r.ok ? 'condition holds' : `condition is false: ${rule.condition}`,
      evidence: [`CEL: ${rule.condition}`],
      fix: rule.fix,
    };
    if (rule.mode) d.mode = rule.mode;
    if (rule.effectiveOn) d.effectiveOn = rule.effectiveOn;
    drafts.push(d);
  }

  const rules = drafts.map((d) => finish(policy, d, evidence.image, now));
  return { policy: policy.name, mode: policy.mode, allowed: !rules.some((r) => r.outcome === 'fail'), rules };
}

function finish(policy: AdmissionPolicy, d: Draft, image: Evidence['image'], now: Date): RuleResult {
  const result: RuleResult = { code: d.code, title: d.title, outcome: 'pass', message: d.message, evidence: d.evidence, fix: d.ok ? '' : d.fix };
  if (d.effectiveOn) result.effectiveOn = d.effectiveOn.toISOString();
  if (d.ok) return result;
  const ex = policy.exceptions.find(
    (e) => e.until > now && (e.rules.includes('*') || e.rules.includes(d.code)) && e.images.some((g) => g === `sha256:${image.digest}` || globMatch(g, image.repository) || globMatch(g, `${image.repository}@sha256:${image.digest}`)),
  );
  if (ex) {
    result.outcome = 'excepted';
    result.exception = { reference: ex.reference, until: ex.until.toISOString() };
    return result;
  }
  const notYet = d.effectiveOn !== undefined && d.effectiveOn > now;
  result.outcome = policy.mode === 'warn' || d.mode === 'warn' || notYet ? 'warn' : 'fail';
  if (notYet) result.message += ` (enforced from ${d.effectiveOn!.toISOString().slice(0, 10)})`;
  return result;
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
function obj(v: unknown): Obj {
  return isObj(v) ? v : {};
}
function field(v: unknown, k: string): unknown {
  return obj(v)[k];
}
function arrayField(v: Obj, k: string): unknown[] {
  const x = v[k];
  return Array.isArray(x) ? x : [];
}
function listField(v: unknown, k: string): string[] {
  return arrayField(obj(v), k).map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
}

/** TEST_OUTPUT as Konflux writes it (a JSON string or object with `result`). */
function parseTestOutput(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  const r = field(o, 'result');
  return typeof r === 'string' ? r : undefined;
}

/** Findings of an in-toto vulns v0.1 predicate at a blocking severity (a named severity, or a CVSS score). */
export function blockingVulns(predicate: unknown, block: string[]): string[] {
  const out: string[] = [];
  for (const r of arrayField(obj(field(predicate, 'scanner')), 'result')) {
    const v = obj(field(r, 'vulnerability'));
    const sev = severityOf(arrayField(v, 'severity'));
    if (sev !== undefined && block.includes(sev)) out.push(`${String(v['id'])} (${sev})`);
  }
  return out;
}

function severityOf(list: unknown[]): string | undefined {
  let best: string | undefined;
  const rank = (s: string): number => SEVERITIES.length - SEVERITIES.indexOf(s);
  for (const s of list) {
    const raw = field(s, 'score');
    const score = (typeof raw === 'number' ? String(raw) : text(raw)).trim();
    let sev: string | undefined;
    const named = score.toLowerCase().replace('moderate', 'medium');
    if (SEVERITIES.includes(named)) sev = named;
    else {
      const n = Number.parseFloat(score);
      if (!Number.isNaN(n) && /^\d/.test(score)) sev = n >= 9 ? 'critical' : n >= 7 ? 'high' : n >= 4 ? 'medium' : n > 0 ? 'low' : undefined;
    }
    if (sev !== undefined && (best === undefined || rank(sev) > rank(best))) best = sev;
  }
  return best;
}

interface ApprovalFacts {
  reviewer: string;
  groups: string[];
  decision: string;
  keyId: string;
  commit: string;
  source: string;
}

/**
 * The risk tier's approvals (CONTRACTS.md): each approval verified, signed by the key of the approver it names (a
 * policy approver), an `approve` for exactly the build's head commit and exactly this risk assessment; distinct
 * reviewers; `requiredApprovals.count` of them and, per group, that many from the group. A valid `reject` blocks.
 */
function checkApprovals(policy: AdmissionPolicy, risk: Obj | undefined, prov: ProvenanceView | undefined, approvals: VerifiedApproval[]): { draft: Draft; valid: ApprovalFacts[] } {
  const draft: Draft = { code: 'approvals.satisfied', title: "the risk tier's required approvals are present and valid", ok: false, message: '', evidence: [], fix: '' };
  if (!risk) {
    draft.message = 'no verified risk assessment: the approvals it requires cannot be known';
    draft.fix = 'run the classify stage in the pipeline';
    return { draft, valid: [] };
  }
  const required = obj(risk['requiredApprovals']);
  const count = typeof required['count'] === 'number' ? required['count'] : 0;
  const groups = Object.entries(obj(required['groups'])).map(([g, n]) => [g, typeof n === 'number' ? n : 0] as const);
  const head = typeof risk['headRevision'] === 'string' ? risk['headRevision'] : '';
  const tier = String(risk['tier']);
  const riskEvidence = prov?.evidence.filter((e) => e.predicateType === PREDICATES['risk-assessment']) ?? [];
  // who took part in the change, from the verified assessment: the same separation of duties as the gate's
  // (src/policy/approvals.ts), so an approval the gate refused cannot admit the image either
  const parties = { authors: listField(risk, 'authors'), agentAuthors: listField(risk, 'agentAuthors'), requestedBy: listField(risk, 'requestedBy') };
  const valid: ApprovalFacts[] = [];
  const reasons: string[] = [];
  for (const a of approvals) {
    const p = obj(a.predicate);
    const reviewer = text(obj(p['reviewer'])['id']);
    const approver = policy.approvers.find((x) => x.id === reviewer);
    const where = `approval by ${reviewer || '(no reviewer)'} (${a.source}, log #${a.log.logIndex})`;
    const ra = obj(p['riskAssessment']);
    const raDigest = text(obj(ra['digest'])['sha256']);
    const conflict = approver ? partyRefusal(approver, String(p['decision']), parties) : undefined;
    let why = '';
    if (!approver) why = `${reviewer} is not an approver in policy ${policy.name}`;
    else if (approver.keyId !== a.keyId) why = `signed by key ${short(a.keyId)}, not ${reviewer}'s key ${short(approver.keyId)}`;
    else if (conflict !== undefined) why = conflict;
    else if (head === '' || a.subjectCommit !== head || p['headCommit'] !== head) why = `for commit ${String(p['headCommit'])}, not the assessed head ${head || '(unknown)'}`;
    else if (prov && prov.source.commit !== '' && prov.source.commit !== head) why = `the provenance built ${prov.source.commit}, not the assessed head ${head}`;
    else if (String(ra['tier']) !== tier) why = `for risk tier ${String(ra['tier'])}, not ${tier}`;
    // the provenance's evidence is what binds an approval to the assessment this image was built under: without it,
    // an approval of any assessment of the same commit and tier would count
    else if (riskEvidence.length === 0) why = 'the provenance lists no risk assessment evidence to bind the approval to';
    else if (!riskEvidence.some((e) => e.sha256 === raDigest)) why = `for another risk assessment (sha256:${short(raDigest)})`;
    if (why !== '') {
      reasons.push(`${where}: not counted: ${why}`);
      continue;
    }
    valid.push({ reviewer, groups: approver!.groups, decision: String(p['decision']), keyId: a.keyId, commit: head, source: a.source });
    reasons.push(`${where}: ${String(p['decision'])}, valid`);
  }
  const rejects = valid.filter((v) => v.decision === 'reject');
  const approvers = new Map<string, ApprovalFacts>();
  for (const v of valid) if (v.decision === 'approve') approvers.set(v.reviewer, v);
  const missing: string[] = [];
  if (approvers.size < count) missing.push(`${String(count)} approval(s) needed, ${String(approvers.size)} valid`);
  for (const [g, n] of groups) {
    const have = [...approvers.values()].filter((v) => v.groups.includes(g)).length;
    if (have < n) missing.push(`${String(n)} from group ${g} needed, ${String(have)} valid`);
  }
  if (rejects.length > 0) missing.push(`rejected by ${rejects.map((r) => r.reviewer).join(', ')}`);
  draft.ok = missing.length === 0;
  draft.message = `risk tier ${tier} (head ${short(head)}): ${draft.ok ? `${String(approvers.size)} valid approval(s)` : missing.join('; ')}`;
  draft.evidence = reasons;
  draft.fix = `get the approvals the tier requires (${String(count)}${groups.length ? `, ${groups.map(([g, n]) => `${String(n)} from ${g}`).join(', ')}` : ''}) signed by approvers listed in the policy for commit ${head}`;
  return { draft, valid };
}

/** What CEL conditions see (docs/admission.md). JSON numbers are CEL doubles; compare with 1.0 or use int(). */
function celBindings(evidence: Evidence, atts: VerifiedAttestation[], prov: ProvenanceView | undefined, risk: Obj | undefined, approvals: ApprovalFacts[], now: Date): Record<string, CelInput> {
  const byType: Record<string, unknown[]> = {};
  for (const a of atts) (byType[a.predicateType] ??= []).push(a.predicate);
  const plain = (v: unknown): CelInput => JSON.parse(JSON.stringify(v ?? null)) as CelInput;
  return {
    image: plain(evidence.image),
    provenance: plain(prov ?? null),
    attestations: plain(byType),
    tests: plain(byType[PREDICATES['test-result']] ?? []),
    vulns: plain(byType[PREDICATES.vulns] ?? []),
    sboms: plain(byType[PREDICATES.sbom] ?? []),
    agentRuns: plain(byType[PREDICATES['agent-run']] ?? []),
    risk: plain(risk ?? null),
    approvals: plain(approvals.map((a) => ({ reviewer: a.reviewer, groups: a.groups, decision: a.decision, commit: a.commit }))),
    now: now.toISOString(),
  };
}
