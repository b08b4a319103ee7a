// Stage `secrets`: scans the lines a change ADDED (base..head) and, when given, an agent transcript for credentials,
// with secretlint's recommended preset plus vouch's own rules (rules.ts) and the policy's extra patterns. Any finding
// fails the gate. Findings are reported by rule, file, line, column and length only: the secret itself never
// reaches the report, the SARIF file, the results or the log (a final check refuses to write output containing one).

import { readFile } from 'node:fs/promises';
import { isAbsolute, matchesGlob, relative, resolve } from 'node:path';
import { lintSource } from '@secretlint/core';
import { creator as recommendedPreset } from '@secretlint/secretlint-rule-preset-recommend';
import type { Log as SarifLog, ReportingDescriptor, Result as SarifResult } from 'sarif';
import { VouchError, errorMessage } from '../../common/errors.ts';
import { outcomeOf, testOutput, type Stage, type StageContext, type StageOutcome } from '../framework.ts';
import { addedLines, policyAtBase, resolveCommit } from '../git.ts';
import { SRCROOT_BASE, artifactLocation, sarifLog } from '../sarif.ts';
import { BUILTIN_RULES, matchLine, policyRules, type LineRule } from './rules.ts';

export interface Finding {
  ruleId: string;
  /** secretlint, vouch (built-in rules) or policy (the policy file's patterns) */
  engine: 'secretlint' | 'vouch' | 'policy';
  /** what was found, masked: never the secret */
  message: string;
  /** path in the repository, or the transcript's path */
  path: string;
  target: 'diff' | 'transcript';
  line: number;
  column: number;
  /** characters of the secret (so a reader can judge it without seeing it) */
  length: number;
}

interface Target {
  path: string;
  target: 'diff' | 'transcript';
  /** line number -> text; for the diff only the added lines */
  lines: Map<number, string>;
}

/** Text with each given line at its own line number and every other line empty, so positions stay true. */
function sparseText(lines: Map<number, string>): string {
  const max = Math.max(0, ...lines.keys());
  const out: string[] = [];
  for (let n = 1; n <= max; n++) out.push(lines.get(n) ?? '');
  return out.join('\n') + '\n';
}

async function secretlintFindings(t: Target, secrets: Set<string>): Promise<Finding[]> {
  const content = sparseText(t.lines);
  const extIndex = t.path.lastIndexOf('.');
  const result = await lintSource({
    source: { filePath: t.path, content, contentType: 'text', ext: extIndex > 0 ? t.path.slice(extIndex) : '' },
    options: { config: { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: recommendedPreset }] }, maskSecrets: true, noPhysicFilePath: true },
  });
  return result.messages.map((m) => {
    const secret = content.slice(m.range[0], m.range[1]);
    secrets.add(secret);
    return {
      ruleId: m.ruleId,
      engine: 'secretlint' as const,
      message: m.message,
      path: t.path,
      target: t.target,
      line: m.loc.start.line,
      column: m.loc.start.column + 1,
      length: secret.length,
    };
  });
}

function ruleFindings(t: Target, rules: readonly LineRule[], secrets: Set<string>): Finding[] {
  const out: Finding[] = [];
  for (const rule of rules) {
    if (t.target === 'diff' && rule.appliesTo && !rule.appliesTo(t.path)) continue;
    for (const [line, text] of t.lines) {
      for (const m of matchLine(rule, text)) {
        secrets.add(m.secret);
        out.push({
          ruleId: rule.id,
          engine: rule.id.startsWith('policy/') ? 'policy' : 'vouch',
          message: `found ${rule.description} (${String(m.secret.length)} characters, masked)`,
          path: t.path,
          target: t.target,
          line,
          column: m.column,
          length: m.secret.length,
        });
      }
    }
  }
  return out;
}

/** One finding per secret: secretlint's first, then ours only where no earlier finding overlaps on that line. */
function dedupe(findings: Finding[]): Finding[] {
  const kept: Finding[] = [];
  for (const f of findings) {
    const overlaps = kept.some((k) => k.target === f.target && k.path === f.path && k.line === f.line && f.column < k.column + k.length && k.column < f.column + f.length);
    if (!overlaps) kept.push(f);
  }
  return kept;
}

/** SARIF 2.1.0: one run, rules for every rule id that fired, no snippets (they would hold the secret). */
export function toSarif(findings: readonly Finding[], rules: readonly LineRule[]): SarifLog {
  const ids = [...new Set(findings.map((f) => f.ruleId))].sort();
  const descriptors: ReportingDescriptor[] = ids.map((id) => {
    const rule = rules.find((r) => r.id === id);
    return { id, shortDescription: { text: rule ? rule.description : `secretlint rule ${id}` } };
  });
  const results: SarifResult[] = findings.map((f) => ({
    ruleId: f.ruleId,
    ruleIndex: ids.indexOf(f.ruleId),
    level: 'error',
    message: { text: f.message },
    locations: [
      {
        physicalLocation: {
          artifactLocation: artifactLocation(f.path),
          region: { startLine: f.line, startColumn: f.column, endLine: f.line, endColumn: f.column + f.length },
        },
      },
    ],
  }));
  return sarifLog([
    {
      tool: { driver: { name: 'vouch-secrets', informationUri: 'https://github.com/secretlint/secretlint', version: '0.1.0', rules: descriptors } },
      originalUriBaseIds: SRCROOT_BASE,
      results,
    },
  ]);
}

async function run(ctx: StageContext): Promise<StageOutcome> {
  const base = await resolveCommit(ctx.source, ctx.params['base-revision'] ?? '');
  const head = await resolveCommit(ctx.source, ctx.params['head-revision'] ?? '');
  const { policy, source: policySource } = await policyAtBase(ctx.source, base);
  const allow = policy.secrets['allow-paths'];
  const targets: Target[] = [];
  const skipped: string[] = [];
  for (const f of await addedLines(ctx.source, base, head)) {
    if (allow.some((glob) => matchesGlob(f.path, glob))) skipped.push(f.path);
    else targets.push({ path: f.path, target: 'diff', lines: f.lines });
  }
  const transcriptParam = ctx.params['transcript'] || undefined;
  if (transcriptParam) {
    const file = isAbsolute(transcriptParam) ? transcriptParam : resolve(ctx.source, transcriptParam);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new VouchError('STAGE_INPUT_INVALID', `transcript ${transcriptParam} cannot be read: ${errorMessage(err)}`);
    }
    const rel = relative(ctx.source, file);
    const lines = new Map(text.split('\n').map((l, i) => [i + 1, l] as const));
    targets.push({ path: rel.startsWith('..') ? file : rel, target: 'transcript', lines });
  }

  const rules = [...BUILTIN_RULES, ...policyRules(policy.secrets.patterns)];
  const secrets = new Set<string>();
  const all: Finding[] = [];
  for (const t of targets) all.push(...(await secretlintFindings(t, secrets)), ...ruleFindings(t, rules, secrets));
  const findings = dedupe(all).sort((a, b) => a.target.localeCompare(b.target) || a.path.localeCompare(b.path) || a.line - b.line || a.column - b.column);

  const dirty = new Set(findings.map((f) => `${f.target}:${f.path}`));
  const reasons = findings.map((f) => `${f.path}:${String(f.line)}:${String(f.column)}: ${f.message} [${f.ruleId}]`);
  for (const f of findings) ctx.log.error({ ruleId: f.ruleId, path: f.path, line: f.line, column: f.column, length: f.length, target: f.target }, `secret found: ${f.path}:${String(f.line)}:${String(f.column)} [${f.ruleId}]`);
  const failures = dirty.size;
  const note = findings.length
    ? `${String(findings.length)} secret(s) in ${String(dirty.size)} file(s): ${reasons.slice(0, 5).join('; ')}${reasons.length > 5 ? '; …' : ''}`
    : `no secrets in the added lines of ${String(targets.length)} file(s)${transcriptParam ? ' (with the transcript)' : ''}`;
  const sarif = JSON.stringify(toSarif(findings, rules), null, 2) + '\n';
  const results = {
    TEST_OUTPUT: testOutput({ result: outcomeOf({ failures, warnings: 0 }), namespace: 'vouch.secrets', successes: targets.length - dirty.size, failures, warnings: 0, note: note.slice(0, 1000), timestamp: ctx.now }),
    findings: String(findings.length),
  };
  const report = { base, head, policy: policySource, scanned: targets.map((t) => ({ path: t.path, target: t.target, lines: t.lines.size })), skipped, findings };
  // defence in depth: no output may contain a secret that was found (short ones could be ordinary words)
  const outputs = [sarif, JSON.stringify(results), JSON.stringify(report), ...reasons];
  for (const s of secrets) {
    if (s.length >= 8 && outputs.some((o) => o.includes(s))) throw new VouchError('INTERNAL', 'secrets stage: an output would contain a found secret; nothing written');
  }
  return {
    results,
    gate: { passed: findings.length === 0, reasons },
    files: { 'secrets.sarif': sarif },
    report,
  };
}

export const secretsStage: Stage = {
  name: 'secrets',
  description: 'scan the lines the change added (and an agent transcript) for credentials; any finding fails',
  params: [
    { name: 'base-revision', description: 'the base commit of the change (its policy applies)', required: true },
    { name: 'head-revision', description: 'the head commit of the change', required: true },
    { name: 'transcript', description: 'an agent transcript file to scan too (path, relative to the source workspace)' },
  ],
  results: [
    { name: 'TEST_OUTPUT', description: 'verdict in the Konflux TEST_OUTPUT convention' },
    { name: 'findings', description: 'number of secrets found' },
  ],
  run,
};
