// Approval rules (docs/risk.md): who may approve (the `reviewers` section: identities, their public keys, their
// groups, human or agent) and how many approvals each tier needs (the `approvals` section: a count of distinct
// humans and per-group quotas). evaluateApprovals decides, from approvals whose signatures the caller has already
// checked against the reviewer's key in this policy, whether a change is approved, rejected or still waiting, and
// why each approval counts or not. Pure: no I/O, no crypto beyond reading a key's id.

import { createPublicKey } from 'node:crypto';
import { sha256Hex } from '../common/digest.ts';
import type { SectionSpec } from './file.ts';
import type { Tier } from './risk.ts';

export interface Reviewer {
  /** the identity an approval names (an e-mail); compared case-insensitively with commit authors */
  id: string;
  /** SPKI PEM public key the reviewer signs approvals with */
  'public-key': string;
  groups: string[];
  role: 'human' | 'agent';
  /** the reviewer's forge accounts, "<forge>:<login>" (e.g. github:alice): compared with who requested the change */
  accounts: string[];
}

export interface ReviewersPolicySection {
  people: Reviewer[];
}

export interface ApprovalsPolicySection {
  low: number;
  medium: number;
  high: number;
  /** "group:count" quotas per tier */
  'low-groups': string[];
  'medium-groups': string[];
  'high-groups': string[];
  /** identities that can never approve (the agent's), on top of reviewers with role agent */
  'never-approve': string[];
}

export interface Requirement {
  count: number;
  groups: Record<string, number>;
}

const ID = /^[^\s,"]+$/;
const lower = (s: string): string => s.toLowerCase();
/**
 * A forge account: "<forge>:<login>". The forge is a word or a host name (github, gitlab, git.example.com); the login
 * is what the forge calls the user (GitHub: letters, digits and -; GitLab: also . and _; bots end in [bot]).
 */
const ACCOUNT = /^([a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*):([A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?(?:\[bot\])?)$/;

/** Why a forge account is malformed, or undefined. The forge must be lower case: "GitHub:x" is a typo, not a forge. */
export function checkAccount(v: string): string | undefined {
  return ACCOUNT.test(v) ? undefined : 'must be a forge account "<forge>:<login>", e.g. "github:alice" (forge in lower case)';
}

/** The form accounts are compared in: forges' logins are case-insensitive (GitHub's "Alice" is "alice"). */
export function normalizeAccount(v: string): string {
  return v.toLowerCase();
}
const GROUP_QUOTA = /^([a-z0-9][a-z0-9-]*):([1-9][0-9]*)$/;

function checkPem(v: string): string | undefined {
  try {
    const k = createPublicKey({ key: v, format: 'pem' });
    const t = k.asymmetricKeyType;
    if (t === 'ed25519' || (t === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1')) return undefined;
    return `unsupported key type ${t ?? 'unknown'}; use ECDSA P-256 or Ed25519`;
  } catch {
    return 'must be a PEM public key (-----BEGIN PUBLIC KEY-----, as `vouch keys generate` writes)';
  }
}

/** The key id of a PEM public key, or undefined when it is not one (checkPem says why). */
function pemKeyId(v: unknown): string | undefined {
  try {
    return typeof v === 'string' ? sha256Hex(createPublicKey({ key: v, format: 'pem' }).export({ type: 'spki', format: 'der' })) : undefined;
  } catch {
    return undefined;
  }
}

const quotas = (doc: string) => ({ kind: 'strings' as const, default: [] as string[], doc, check: (v: string) => (GROUP_QUOTA.test(v) ? undefined : 'must be "group:count", e.g. "security:1"') });

export const REVIEWERS_SECTION: SectionSpec = {
  people: {
    kind: 'list',
    doc: 'who may approve: identity, public key, groups, role',
    unique: 'id',
    // approvals count per distinct reviewer: two ids with one key would let one key holder count twice
    distinct: { field: 'public-key', key: (v) => pemKeyId(v), why: 'one key, one reviewer: this public key is already another reviewer\'s' },
    item: {
      id: { kind: 'string', default: '', required: true, doc: 'identity (e-mail)', check: (v) => (ID.test(v) ? undefined : 'must be one word without spaces, commas or quotes') },
      'public-key': { kind: 'string', default: '', required: true, doc: 'SPKI PEM public key', check: checkPem },
      groups: { kind: 'strings', default: [], doc: 'groups (e.g. security)', check: (v) => (/^[a-z0-9][a-z0-9-]*$/.test(v) ? undefined : 'must be lower-case letters, digits and -') },
      role: { kind: 'string', default: 'human', oneOf: ['human', 'agent'], doc: 'human or agent (an agent never approves)' },
      accounts: { kind: 'strings', default: [], doc: 'forge accounts "<forge>:<login>" (github:alice): who requested a change never approves it', check: checkAccount },
    },
    // one account, one reviewer: an account shared by two reviewers would let the requester approve under the other id
    distinctEach: { field: 'accounts', key: normalizeAccount, why: 'one account, one reviewer: this account is already listed' },
  },
};

export const APPROVALS_SECTION: SectionSpec = {
  low: { kind: 'number', default: 0, integer: true, min: 0, max: 10, doc: 'distinct human approvals a low change needs (0: auto-approved when every gate passed)' },
  medium: { kind: 'number', default: 1, integer: true, min: 0, max: 10, doc: 'distinct human approvals a medium change needs' },
  high: { kind: 'number', default: 2, integer: true, min: 0, max: 10, doc: 'distinct human approvals a high change needs' },
  'low-groups': quotas('group quotas of a low change'),
  'medium-groups': quotas('group quotas of a medium change'),
  'high-groups': { ...quotas('group quotas of a high change'), default: ['security:1'] },
  'never-approve': { kind: 'strings', default: [], doc: 'identities that never approve (the agent\'s)' },
};

/** What a tier needs: N distinct approvers, and among them at least q members of each quota's group. */
export function requirementFor(tier: Tier, approvals: ApprovalsPolicySection): Requirement {
  const groups: Record<string, number> = {};
  for (const q of approvals[`${tier}-groups`]) {
    const m = GROUP_QUOTA.exec(q);
    if (m) groups[m[1]!] = Math.max(groups[m[1]!] ?? 0, Number(m[2]));
  }
  return { count: approvals[tier], groups };
}

/** sha256 of the DER SubjectPublicKeyInfo, hex: the key id vouch uses for signers (src/attest/keys.ts keyId). */
export function reviewerKeyId(reviewer: Reviewer): string {
  return sha256Hex(createPublicKey({ key: reviewer['public-key'], format: 'pem' }).export({ type: 'spki', format: 'der' }));
}

/** An approval statement's predicate, as read (the caller checked its signature with `signedBy`'s policy key). */
export interface ApprovalCandidate {
  decision: 'approve' | 'reject';
  reviewerId: string;
  repository: string;
  pullRequest: string;
  headCommit: string;
  pipelineRun: string;
  riskDigest: string;
  tier: string;
  timestamp: string;
  comment?: string;
  /** the policy reviewer whose key verified the signature; undefined: no reviewer key verifies it */
  signedBy: string | undefined;
  /** where it came from (log index, file), for the report */
  ref: string;
}

/** What an approval must be bound to: this change, this run, this assessment. */
export interface ApprovalContext {
  repository: string;
  pullRequest: string;
  headCommit: string;
  pipelineRun: string;
  /** sha256 hex of the risk assessment predicate file */
  riskDigest: string;
  tier: Tier;
  /** e-mails of the change's commit authors and committers */
  authors: string[];
  /** e-mails of commits carrying the agent trailer */
  agentAuthors: string[];
  /** forge accounts ("<forge>:<login>") of who requested the change: the pull request's author */
  requestedBy: string[];
}

/** Who took part in a change, as its risk assessment records them (docs/risk.md). */
export interface ChangeParties {
  /** e-mails of the change's commit authors and committers */
  authors: readonly string[];
  /** identities that are the agent's (e-mails on commits with the agent trailer, `never-approve`) */
  agentAuthors: readonly string[];
  /** forge accounts of who requested the change */
  requestedBy: readonly string[];
}

/**
 * The separation-of-duties rule, one implementation for the gate and admission: why a reviewer's decision on a change
 * does not count, or undefined. An agent never decides. Whoever authored, committed or requested the change (the
 * person who prompted the agent or opened the pull request: the agent's commits do not name them) cannot approve it;
 * their rejection still counts, since withdrawing a change can only stop it.
 */
export function partyRefusal(reviewer: { id: string; accounts: readonly string[] }, decision: string, parties: ChangeParties): string | undefined {
  const id = lower(reviewer.id);
  if (parties.agentAuthors.some((a) => lower(a) === id)) return `${reviewer.id} is an agent identity: an agent never approves`;
  if (decision === 'reject') return undefined;
  if (parties.authors.some((a) => lower(a) === id)) return `${reviewer.id} authored or committed the change: no self-approval`;
  const requesters = new Set(parties.requestedBy.map(normalizeAccount));
  const account = reviewer.accounts.find((a) => requesters.has(normalizeAccount(a)));
  if (account !== undefined) return `${reviewer.id} (${account}) requested the change: no self-approval`;
  return undefined;
}

export interface ApprovalDecision {
  state: 'approved' | 'rejected' | 'waiting';
  requirement: Requirement;
  /** distinct reviewers whose approval counts, sorted */
  approvedBy: string[];
  rejectedBy: string[];
  /** every approval that does not count, with why */
  refused: { reviewer: string; ref: string; reason: string }[];
  /** what is still missing, in words (empty unless waiting) */
  missing: string[];
}

/** Decides on a set of approvals. A valid rejection wins over any number of approvals. */
export function evaluateApprovals(candidates: readonly ApprovalCandidate[], ctx: ApprovalContext, reviewers: ReviewersPolicySection, approvals: ApprovalsPolicySection): ApprovalDecision {
  const requirement = requirementFor(ctx.tier, approvals);
  const byId = new Map(reviewers.people.map((r) => [lower(r.id), r]));
  const parties: ChangeParties = { authors: ctx.authors, agentAuthors: [...ctx.agentAuthors, ...approvals['never-approve']], requestedBy: ctx.requestedBy };
  const refused: ApprovalDecision['refused'] = [];
  const approvers = new Map<string, Reviewer>();
  const rejecters = new Set<string>();
  for (const c of candidates) {
    const why = refusal(c, ctx, byId, parties);
    if (why !== undefined) {
      refused.push({ reviewer: c.reviewerId, ref: c.ref, reason: why });
      continue;
    }
    const reviewer = byId.get(lower(c.reviewerId))!;
    if (c.decision === 'reject') rejecters.add(reviewer.id);
    else approvers.set(lower(reviewer.id), reviewer);
  }
  // a reviewer who rejected does not also count as approving
  for (const r of rejecters) approvers.delete(lower(r));
  const approvedBy = [...approvers.values()].map((r) => r.id).sort();
  const rejectedBy = [...rejecters].sort();
  const missing: string[] = [];
  if (approvedBy.length < requirement.count) missing.push(`${String(requirement.count - approvedBy.length)} more approval(s) from distinct human reviewers (${String(approvedBy.length)} of ${String(requirement.count)})`);
  for (const [group, n] of Object.entries(requirement.groups).sort(([a], [b]) => a.localeCompare(b))) {
    const have = [...approvers.values()].filter((r) => r.groups.includes(group)).length;
    if (have < n) missing.push(`${String(n - have)} more approval(s) from group ${group} (${String(have)} of ${String(n)})`);
  }
  const state = rejectedBy.length > 0 ? 'rejected' : missing.length === 0 ? 'approved' : 'waiting';
  return { state, requirement, approvedBy, rejectedBy, refused, missing: state === 'waiting' ? missing : [] };
}

function refusal(c: ApprovalCandidate, ctx: ApprovalContext, byId: Map<string, Reviewer>, parties: ChangeParties): string | undefined {
  const reviewer = byId.get(lower(c.reviewerId));
  if (!reviewer) return `${c.reviewerId} is not a reviewer in the base revision's policy`;
  if (c.signedBy === undefined || lower(c.signedBy) !== lower(reviewer.id)) return `the signature does not verify with ${reviewer.id}'s key in the base revision's policy`;
  if (reviewer.role === 'agent') return `${reviewer.id} is an agent identity: an agent never approves`;
  const conflict = partyRefusal(reviewer, c.decision, parties);
  if (conflict !== undefined) return conflict;
  if (c.headCommit !== ctx.headCommit) return `it is for commit ${c.headCommit}, not the head ${ctx.headCommit} (a new push voids approvals)`;
  if (c.riskDigest !== ctx.riskDigest) return `it is for another risk assessment (sha256:${c.riskDigest.slice(0, 12)}…, this one is sha256:${ctx.riskDigest.slice(0, 12)}…)`;
  if (c.repository !== ctx.repository) return `it is for repository ${c.repository}, not ${ctx.repository}`;
  if (c.pullRequest !== ctx.pullRequest) return `it is for pull request "${c.pullRequest}", not "${ctx.pullRequest}"`;
  if (c.pipelineRun !== ctx.pipelineRun) return `it is for PipelineRun ${c.pipelineRun}, not ${ctx.pipelineRun}`;
  if (c.tier !== ctx.tier) return `it approves tier ${c.tier}, but the change is ${ctx.tier}`;
  return undefined;
}
