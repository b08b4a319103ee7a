// The reviewer brief (docs/risk.md): one deterministic Markdown page about a change, for the human who approves
// it. The same inputs always give the same bytes (everything sorted, no clock), so the brief can be digested and
// compared. Text that others wrote (file names, advisory summaries, the agent's words) is escaped so that it cannot
// turn into Markdown structure or HTML; the agent's rationale is quoted and labelled as the agent's own claim.

import type { DependencyFacts, FileCategory, RiskReason, TestFacts, Tier } from './risk.ts';
import type { Requirement } from './approvals.ts';

export interface BriefVulnerability {
  id: string;
  package: string;
  version: string;
  severity: string;
  summary: string;
  fixed: string;
  failing: boolean;
}

export interface BriefGate {
  stage: string;
  passed: boolean;
  reasons: string[];
}

export interface BriefInput {
  repository: string;
  pullRequest: string;
  baseRevision: string;
  headRevision: string;
  tier: Tier;
  reasons: RiskReason[];
  requirement: Requirement;
  /** file path -> category */
  categories: Record<string, FileCategory>;
  changedLines: number;
  dependencies: DependencyFacts | undefined;
  vulnerabilities: BriefVulnerability[] | undefined;
  tests: TestFacts;
  gates: BriefGate[];
  /** the agent's stated rationale, verbatim; undefined: no transcript */
  agentRationale: string | undefined;
  /** where the rationale was read from */
  agentTranscript: string | undefined;
  /** forge accounts of who requested the change (they cannot approve it); absent or empty: not known */
  requestedBy?: string[];
  /** approval state when known (the gate's brief) */
  approvals?: { state: string; approvedBy: string[]; rejectedBy: string[]; missing: string[] };
}

/** Makes untrusted text inert inline Markdown: no HTML, no emphasis, links, code spans or line structure. */
export function inline(text: string): string {
  return text
    .replace(/[\r\n\t]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/([\\`*_[\]{}()#+!|~])/g, '\\$1');
}

const MAX_RATIONALE = 8000;
const CATEGORY_ORDER: FileCategory[] = ['pipeline', 'auth', 'deployment', 'secrets', 'generated', 'dependencies', 'code', 'tests', 'docs'];

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function renderBrief(b: BriefInput): string {
  const out: string[] = [];
  const need = b.requirement.count === 0 ? 'no human approval (auto-approved when every gate passed)' : `${String(b.requirement.count)} distinct human approval(s)` + Object.entries(b.requirement.groups).sort(([x], [y]) => byString(x, y)).map(([g, n]) => `, ${String(n)} from ${inline(g)}`).join('');
  out.push(`# Review brief: ${b.tier.toUpperCase()} risk`, '');
  out.push(`- Repository: ${inline(b.repository)}${b.pullRequest ? `, pull request ${inline(b.pullRequest)}` : ''}`);
  out.push(`- Change: \`${b.baseRevision}\`..\`${b.headRevision}\` (${String(Object.keys(b.categories).length)} files, ${String(b.changedLines)} changed lines)`);
  if (b.requestedBy?.length) out.push(`- Requested by: ${[...b.requestedBy].sort(byString).map(inline).join(', ')} (cannot approve it)`);
  out.push(`- Required: ${need}`);
  if (b.approvals) {
    out.push(`- Approvals: ${b.approvals.state}${b.approvals.approvedBy.length ? `; approved by ${b.approvals.approvedBy.map(inline).join(', ')}` : ''}${b.approvals.rejectedBy.length ? `; rejected by ${b.approvals.rejectedBy.map(inline).join(', ')}` : ''}${b.approvals.missing.length ? `; missing: ${b.approvals.missing.map(inline).join('; ')}` : ''}`);
  }
  out.push('', '## Why this tier', '');
  for (const r of b.reasons) out.push(`- **${r.tier}** \`${r.rule.replace(/`/g, "'")}\`: ${inline(r.detail)}`);
  if (b.reasons.length === 0) out.push('- no rule fired');

  out.push('', '## Files by category', '');
  const groups = new Map<FileCategory, string[]>();
  for (const [path, c] of Object.entries(b.categories)) groups.set(c, [...(groups.get(c) ?? []), path]);
  for (const c of CATEGORY_ORDER) {
    const paths = groups.get(c);
    if (!paths) continue;
    out.push(`### ${c} (${String(paths.length)})`, '');
    for (const p of paths.sort(byString)) out.push(`- ${inline(p)}`);
    out.push('');
  }
  if (groups.size === 0) out.push('No file changed.', '');

  out.push('## Dependency changes', '');
  const d = b.dependencies;
  if (!d) out.push('No lockfile at base or head: not assessed.');
  else if (!d.added.length && !d.changed.length && !d.removed.length) out.push('None.');
  else {
    for (const a of d.added) out.push(`- added ${inline(a.name)} ${inline(a.versions.join(', '))}`);
    for (const c of d.changed) out.push(`- changed ${inline(c.name)} ${inline(c.before.join(', '))} → ${inline(c.after.join(', '))}`);
    for (const r of d.removed) out.push(`- removed ${inline(r.name)} ${inline(r.versions.join(', '))}`);
  }

  out.push('', '## Vulnerabilities', '');
  const v = b.vulnerabilities;
  if (!v) out.push('The sca stage has not reported (yet).');
  else if (v.length === 0) out.push('None known.');
  else {
    const sorted = [...v].sort((x, y) => byString(x.package, y.package) || byString(x.id, y.id));
    for (const x of sorted) out.push(`- ${x.failing ? '**fails the gate** ' : ''}${inline(x.id)} (${inline(x.severity)}) in ${inline(x.package)}@${inline(x.version)}${x.fixed ? `, fixed in ${inline(x.fixed)}` : ''}${x.summary ? `: ${inline(x.summary)}` : ''}`);
  }

  out.push('', '## Test changes', '');
  const t = b.tests;
  if (!t.deleted.length && !t.skipped.length && !t.focused.length) out.push('No test deleted, newly skipped or newly focused.');
  for (const [what, list] of [['deleted', t.deleted], ['newly skipped', t.skipped], ['newly focused (.only)', t.focused]] as const) {
    for (const x of [...list].sort((p, q) => byString(p.file, q.file) || byString(p.name, q.name))) out.push(`- ${what}: ${inline(x.name)} (${inline(x.file)})`);
  }

  out.push('', '## Gate results', '');
  if (b.gates.length === 0) out.push('No other stage has reported (yet).');
  for (const g of [...b.gates].sort((x, y) => byString(x.stage, y.stage))) {
    out.push(`- ${inline(g.stage)}: ${g.passed ? 'passed' : '**FAILED**'}${g.reasons.length ? ` (${g.reasons.slice(0, 5).map(inline).join('; ')}${g.reasons.length > 5 ? '; …' : ''})` : ''}`);
  }

  if (b.agentRationale !== undefined) {
    out.push('', "## The agent's stated rationale (the agent's own words, not verified)", '');
    out.push(`Quoted from the agent's transcript${b.agentTranscript ? ` (${inline(b.agentTranscript)})` : ''}. It is a claim by the party under review, not evidence.`, '');
    const text = b.agentRationale.length > MAX_RATIONALE ? b.agentRationale.slice(0, MAX_RATIONALE) + ' …(truncated)' : b.agentRationale;
    for (const line of text.split(/\r?\n/)) out.push(line.trim() === '' ? '>' : `> ${inline(line)}`);
  }
  return out.join('\n').replace(/\n{3,}/g, '\n\n') + '\n';
}

/**
 * The agent's stated rationale from a Claude Code `--output-format stream-json` transcript (one JSON event per line):
 * the final `result` event's text, or else the text blocks of the last assistant message. undefined when none.
 * Lines that are not JSON are skipped (a transcript cut short still yields what it has).
 */
export function rationaleFromTranscript(text: string): string | undefined {
  let result: string | undefined;
  let lastAssistant: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof ev !== 'object' || ev === null) continue;
    const e = ev as { type?: unknown; result?: unknown; message?: { content?: unknown } };
    if (e.type === 'result' && typeof e.result === 'string' && e.result.trim() !== '') result = e.result;
    if (e.type === 'assistant' && Array.isArray(e.message?.content)) {
      const texts = (e.message.content as { type?: unknown; text?: unknown }[]).filter((c) => c.type === 'text' && typeof c.text === 'string').map((c) => c.text as string);
      if (texts.length) lastAssistant = texts.join('\n');
    }
  }
  return result ?? lastAssistant;
}
