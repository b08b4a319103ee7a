// The reviewer's HTML report of one run: risk, gates, approvals, the agent run, the provenance graph and the
// admission verdict on one page. Hand-written rather than through a template engine: it is one page, and every
// value in it (file names, reasons, agent words) can come from the change under review, so the one rule that
// matters is that everything goes through `esc`. The page carries a Content-Security-Policy that allows no script
// and no remote resource at all, so even a value that slipped through could not run or call home.

import { AGENT_RUN_V01, APPROVAL_V01, CYCLONEDX_BOM, RISK_ASSESSMENT_V01, SLSA_PROVENANCE_V1, SLSA_VSA_V1, TEST_RESULT_V01, VULNS_V01 } from '../../attest/predicates.ts';
import type { StageSummary, UnreadableReport } from './collect.ts';

export interface RunInfo {
  pipelineRun?: string;
  /** Tekton's aggregate status of the run's tasks ($(tasks.status)): Succeeded, Failed, Completed, None */
  status?: string;
  repository?: string;
  pullRequest?: string;
  baseRevision?: string;
  headRevision?: string;
}

export interface GraphNode {
  label: string;
  /** second line: a digest, a uri */
  detail?: string;
}

/** What the signed provenance says, for the graph: inputs → the run → outputs, and evidence about the outputs. */
export interface ProvenanceView {
  buildType: string;
  builderId: string;
  invocationId?: string;
  startedOn?: string;
  finishedOn?: string;
  inputs: GraphNode[];
  outputs: GraphNode[];
}

export interface EvidenceView {
  predicateType: string;
  subjects: string[];
  /** where it is in the transparency log */
  logIndex?: number;
  /** true: the bundle verified against the log's trusted root when the report was made; undefined: not checked */
  verified?: boolean;
  problem?: string;
  file: string;
}

export interface AdmissionRuleView {
  code: string;
  outcome: string;
  message: string;
}

export interface AdmissionView {
  subject: string;
  allowed: boolean;
  summary: string;
  rules: AdmissionRuleView[];
}

export interface RunReport {
  generatedAt: Date;
  run: RunInfo;
  /** Tekton's status of each pipeline task, in pipeline order, when the finally task was given them */
  taskStatuses?: { task: string; status: string }[];
  stages: StageSummary[];
  unreadable: UnreadableReport[];
  provenance?: ProvenanceView;
  evidence?: EvidenceView[];
  admission?: AdmissionView[];
  /** paths or commands the reader can use to dig further */
  pointers?: { label: string; value: string }[];
}

/** HTML-escapes text for element content and double-quoted attributes. */
export function esc(value: unknown): string {
  const text = typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value);
  return text.replace(/[&<>"']/g, (c) => `&#${String(c.charCodeAt(0))};`);
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#0d1b2a;color:#fff;padding:18px 28px}header h1{margin:0 0 6px;font-size:20px}
header dl{display:flex;flex-wrap:wrap;gap:4px 22px;margin:0}header dt{opacity:.7}header dd{margin:0 0 0 4px;font-family:ui-monospace,monospace}
header .kv{display:flex}
main{padding:18px 28px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:14px 18px;margin:0 0 16px}
h2{font-size:16px;margin:0 0 10px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eceef1;vertical-align:top}
th{font-weight:600;color:#57606a}
code,.mono{font-family:ui-monospace,SFMono-Regular,monospace;font-size:12.5px;word-break:break-all}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;font-weight:600;font-size:12px;letter-spacing:.02em}
.pass{background:#dafbe1;color:#116329}.fail{background:#ffebe9;color:#a40e26}.warn{background:#fff8c5;color:#7d4e00}
.skip{background:#eaeef2;color:#57606a}.tier-low{background:#dafbe1;color:#116329}.tier-medium{background:#fff8c5;color:#7d4e00}
.tier-high{background:#ffebe9;color:#a40e26}
.note{color:#57606a}.quote{border-left:3px solid #d0d7de;padding-left:10px;color:#3d444d;white-space:pre-wrap}
ul{margin:4px 0 0;padding-left:20px}
svg text{font:12px ui-monospace,monospace;fill:#1b1f24}svg .title{font:600 12px system-ui,sans-serif}
`;

function badge(text: string, cls: string): string {
  return `<span class="badge ${cls}">${esc(text)}</span>`;
}

function outcomeClass(outcome: string): string {
  switch (outcome.toUpperCase()) {
    case 'SUCCESS':
    case 'PASSED':
    case 'PASS':
    case 'ADMITTED':
    case 'SUCCEEDED':
    case 'COMPLETED':
      return 'pass';
    case 'WARNING':
    case 'WARN':
    case 'WARNED':
      return 'warn';
    case 'SKIPPED':
    case 'NONE':
      return 'skip';
    default:
      return 'fail';
  }
}

function stageVerdict(s: StageSummary): string {
  if (s.testOutput) return s.testOutput.result;
  return s.passed ? 'PASSED' : 'FAILED';
}

function list(items: readonly string[]): string {
  return items.length === 0 ? '<span class="note">none</span>' : `<ul>${items.map((i) => `<li>${esc(i)}</li>`).join('')}</ul>`;
}

/** An array result (Tekton array results are JSON arrays of strings), or the raw text as one item. */
function arrayResult(raw: string | undefined): string[] {
  if (raw === undefined || raw === '') return [];
  try {
    const v: unknown = JSON.parse(raw);
    if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  } catch {
    // not JSON: shown as it is
  }
  return [raw];
}

function header(r: RunReport): string {
  const kv: [string, string | undefined][] = [
    ['PipelineRun', r.run.pipelineRun],
    ['status', r.run.status],
    ['repository', r.run.repository],
    ['pull request', r.run.pullRequest],
    ['base', r.run.baseRevision],
    ['head (as requested)', r.run.headRevision],
    ['generated', r.generatedAt.toISOString()],
  ];
  const shown = kv.filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '');
  return `<header><h1>vouch: agent-pr-verify report</h1><dl>${shown.map(([k, v]) => `<div class="kv"><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl></header>`;
}

function riskSection(stages: readonly StageSummary[]): string {
  const classify = stages.find((s) => s.stage === 'classify');
  const gate = stages.find((s) => s.stage === 'gate');
  if (!classify && !gate) return `<section id="risk"><h2>Risk and approvals</h2><p class="note">No risk classification ran in this run.</p></section>`;
  const tier = classify?.results['RISK_TIER'] ?? 'unknown';
  const reasons = arrayResult(classify?.results['RISK_REASONS']);
  const required = classify?.results['REQUIRED_APPROVALS'];
  const gatePart = gate
    ? `<h3>Approval gate ${badge(stageVerdict(gate), outcomeClass(stageVerdict(gate)))}</h3>${list(gate.reasons)}`
    : '<p class="note">The approval gate did not run.</p>';
  return `<section id="risk"><h2>Risk and approvals</h2>
<p>Tier ${badge(tier, `tier-${tier === 'low' || tier === 'medium' || tier === 'high' ? tier : 'high'}`)}${required ? ` &middot; required approvals: <code>${esc(required)}</code>` : ''}</p>
<p>Why:</p>${list(reasons)}${gatePart}</section>`;
}

function tektonStatusBadge(status: string | undefined): string {
  if (status === undefined) return '';
  return status === 'None' ? badge('NOT RUN', 'skip') : badge(status.toUpperCase(), outcomeClass(status));
}

/** One row per pipeline task (Tekton's status first, authoritative) and per stage report, in pipeline order. */
function gatesSection(r: RunReport): string {
  const statuses = r.taskStatuses ?? [];
  const names = [...statuses.map((t) => t.task), ...[...r.stages.map((s) => s.stage), ...r.unreadable.map((u) => u.stage)].filter((n) => !statuses.some((t) => t.task === n)).sort()];
  const withTekton = statuses.length > 0;
  const rows = names.map((name) => {
    const tekton = withTekton ? `<td>${tektonStatusBadge(statuses.find((t) => t.task === name)?.status)}</td>` : '';
    const s = r.stages.find((x) => x.stage === name);
    const u = r.unreadable.find((x) => x.stage === name);
    if (!s) {
      const why = u ? esc(u.problem) : '<span class="note">no report</span>';
      return `<tr><td><code>${esc(name)}</code></td>${tekton}<td>${u ? badge('NO REPORT', 'fail') : ''}</td><td></td><td>${why}</td></tr>`;
    }
    const verdict = stageVerdict(s);
    const counts = s.testOutput ? `${String(s.testOutput.successes)} / ${String(s.testOutput.failures)} / ${String(s.testOutput.warnings)}` : '';
    const why = s.reasons.length ? list(s.reasons) : s.testOutput?.note ? esc(s.testOutput.note) : '';
    return `<tr><td><code>${esc(name)}</code></td>${tekton}<td>${badge(verdict, outcomeClass(verdict))}</td><td class="mono">${esc(counts)}</td><td>${why}</td></tr>`;
  });
  const head = `<tr><th>stage</th>${withTekton ? '<th>Tekton status</th>' : ''}<th>the stage's report</th><th>successes / failures / warnings</th><th>reasons</th></tr>`;
  const body = rows.length === 0 ? '<p class="note">No stage left a report in the workspace.</p>' : `<table><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
  const note = withTekton ? "<p class=\"note\">Tekton's status is authoritative; a stage's report is what the stage wrote in the workspace.</p>" : '';
  return `<section id="gates"><h2>Gates</h2>${body}${note}</section>`;
}

function agentSection(stages: readonly StageSummary[]): string {
  const agent = stages.find((s) => s.stage === 'agent-run');
  if (!agent) return `<section id="agent"><h2>Agent run</h2><p class="note">No agent ran in this pipeline (the change came from a person or an earlier run).</p></section>`;
  const rows = Object.entries(agent.results)
    .filter(([k]) => k !== 'TEST_OUTPUT' && !k.endsWith('_EVIDENCE'))
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td class="mono">${esc(v)}</td></tr>`);
  const rationale = typeof agent.report['rationale'] === 'string' ? agent.report['rationale'] : undefined;
  return `<section id="agent"><h2>Agent run ${badge(stageVerdict(agent), outcomeClass(stageVerdict(agent)))}</h2>
<table><tbody>${rows.join('')}</tbody></table>${rationale ? `<p>The agent's own words (unverified):</p><p class="quote">${esc(rationale)}</p>` : ''}</section>`;
}

const COL_W = 250;
const NODE_H = 38;
const GAP = 12;

function svgNode(x: number, y: number, n: GraphNode, fill: string): string {
  const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
  return `<g><rect x="${String(x)}" y="${String(y)}" width="${String(COL_W - 40)}" height="${String(NODE_H)}" rx="6" fill="${fill}" stroke="#8c959f"/>` +
    `<text x="${String(x + 8)}" y="${String(y + 15)}" class="title">${esc(clip(n.label, 30))}</text>` +
    (n.detail ? `<text x="${String(x + 8)}" y="${String(y + 30)}">${esc(clip(n.detail, 31))}</text>` : '') +
    `<title>${esc(n.label)}${n.detail ? `\n${esc(n.detail)}` : ''}</title></g>`;
}

/** Inputs → run → outputs → evidence, as an inline SVG (no script, no external resource). */
function provenanceGraph(p: ProvenanceView, evidence: readonly EvidenceView[]): string {
  const run: GraphNode = { label: `PipelineRun ${p.invocationId ?? ''}`.trim(), detail: p.builderId };
  const ev: GraphNode[] = evidence.map((e) => ({ label: shortPredicate(e.predicateType), detail: e.logIndex === undefined ? e.file : `log index ${String(e.logIndex)}` }));
  const columns = [p.inputs, [run], p.outputs, ev];
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = rows * (NODE_H + GAP) + 30;
  const y = (i: number, n: number): number => 26 + i * (NODE_H + GAP) + ((rows - n) * (NODE_H + GAP)) / 2;
  const parts: string[] = [];
  const titles = ['inputs (resolvedDependencies)', 'build', 'outputs (subjects)', 'evidence about them'];
  titles.forEach((t, c) => parts.push(`<text x="${String(c * COL_W + 10)}" y="14" class="title">${esc(t)}</text>`));
  const edge = (x1: number, y1: number, x2: number, y2: number, dashed: boolean): string =>
    `<line x1="${String(x1)}" y1="${String(y1)}" x2="${String(x2)}" y2="${String(y2)}" stroke="#8c959f"${dashed ? ' stroke-dasharray="4 3"' : ''}/>`;
  const runY = y(0, 1) + NODE_H / 2;
  p.inputs.forEach((_, i) => parts.push(edge(COL_W - 30, y(i, p.inputs.length) + NODE_H / 2, COL_W + 10, runY, false)));
  p.outputs.forEach((_, i) => parts.push(edge(2 * COL_W - 30, runY, 2 * COL_W + 10, y(i, p.outputs.length) + NODE_H / 2, false)));
  ev.forEach((_, i) => { p.outputs.forEach((__, j) => parts.push(edge(3 * COL_W + 10, y(i, ev.length) + NODE_H / 2, 3 * COL_W - 30, y(j, p.outputs.length) + NODE_H / 2, true))); });
  p.inputs.forEach((n, i) => parts.push(svgNode(10, y(i, p.inputs.length), n, '#f6f8fa')));
  parts.push(svgNode(COL_W + 10, y(0, 1), run, '#ddf4ff'));
  p.outputs.forEach((n, i) => parts.push(svgNode(2 * COL_W + 10, y(i, p.outputs.length), n, '#dafbe1')));
  ev.forEach((n, i) => parts.push(svgNode(3 * COL_W + 10, y(i, ev.length), n, '#fff8c5')));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${String(4 * COL_W)}" height="${String(height)}" role="img" aria-label="provenance graph">${parts.join('')}</svg>`;
}

function shortPredicate(type: string): string {
  const known: Record<string, string> = {
    [SLSA_PROVENANCE_V1]: 'SLSA provenance v1',
    [TEST_RESULT_V01]: 'test results',
    [CYCLONEDX_BOM]: 'CycloneDX SBOM',
    [VULNS_V01]: 'vulnerability scan',
    [SLSA_VSA_V1]: 'verification summary (VSA)',
    [AGENT_RUN_V01]: 'agent run',
    [RISK_ASSESSMENT_V01]: 'risk assessment',
    [APPROVAL_V01]: 'approval',
  };
  return known[type] ?? type.replace(/^https?:\/\//, '');
}

function provenanceSection(r: RunReport): string {
  const p = r.provenance;
  if (!p) return `<section id="provenance"><h2>Provenance</h2><p class="note">No signed provenance was found for this run${r.run.status === 'Failed' ? ' (failed runs are not attested)' : ''}.</p></section>`;
  const evidence = r.evidence ?? [];
  const rows = evidence.map((e) => {
    const state = e.problem ? badge('BROKEN', 'fail') : e.verified === true ? badge('VERIFIED', 'pass') : e.verified === false ? badge('NOT VERIFIED', 'fail') : badge('NOT CHECKED', 'skip');
    return `<tr><td>${esc(shortPredicate(e.predicateType))}</td><td>${state}${e.problem ? ` ${esc(e.problem)}` : ''}</td><td class="mono">${e.logIndex === undefined ? '' : esc(String(e.logIndex))}</td><td class="mono">${esc(e.subjects.join(', '))}</td><td class="mono">${esc(e.file)}</td></tr>`;
  });
  return `<section id="provenance"><h2>Provenance</h2>
<p>buildType <code>${esc(p.buildType)}</code>, builder <code>${esc(p.builderId)}</code>${p.startedOn ? `, from ${esc(p.startedOn)}` : ''}${p.finishedOn ? ` to ${esc(p.finishedOn)}` : ''}.</p>
<div style="overflow-x:auto">${provenanceGraph(p, evidence)}</div>
<h3>Signed statements</h3><table><thead><tr><th>what</th><th>signature and log entry</th><th>log index</th><th>subjects</th><th>bundle</th></tr></thead><tbody>${rows.join('')}</tbody></table></section>`;
}

function admissionSection(admission: readonly AdmissionView[] | undefined): string {
  if (!admission || admission.length === 0) return `<section id="admission"><h2>Admission</h2><p class="note">No admission verdict was recorded for this run.</p></section>`;
  const blocks = admission.map((a) => {
    const rules = a.rules.map((rule) => `<tr><td><code>${esc(rule.code)}</code></td><td>${badge(rule.outcome, outcomeClass(rule.outcome))}</td><td>${esc(rule.message)}</td></tr>`);
    return `<h3>${badge(a.allowed ? 'ADMITTED' : 'DENIED', a.allowed ? 'pass' : 'fail')} <code>${esc(a.subject)}</code></h3><p>${esc(a.summary)}</p>${rules.length ? `<table><thead><tr><th>rule</th><th>outcome</th><th>detail</th></tr></thead><tbody>${rules.join('')}</tbody></table>` : ''}`;
  });
  return `<section id="admission"><h2>Admission</h2>${blocks.join('')}</section>`;
}

function pointersSection(pointers: RunReport['pointers']): string {
  if (!pointers || pointers.length === 0) return '';
  return `<section id="pointers"><h2>Where to look</h2><table><tbody>${pointers.map((p) => `<tr><th>${esc(p.label)}</th><td class="mono">${esc(p.value)}</td></tr>`).join('')}</tbody></table></section>`;
}

/** The whole page. Deterministic: the same report gives the same bytes. */
export function renderRunReport(r: RunReport): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vouch report${r.run.pipelineRun ? `: ${esc(r.run.pipelineRun)}` : ''}</title><style>${STYLE}</style></head>
<body>${header(r)}<main>
<p class="note">This page summarises what the run's stages reported. It is a reading aid, not evidence: the signed statements in the transparency log are (check them with <code>vouch verify</code>).</p>
${riskSection(r.stages)}
${gatesSection(r)}
${agentSection(r.stages)}
${provenanceSection(r)}
${admissionSection(r.admission)}
${pointersSection(r.pointers)}
</main></body></html>
`;
}
