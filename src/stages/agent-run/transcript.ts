// The agent's transcript before it is stored: secrets redacted with the secrets stage's rules (secretlint's
// recommended preset plus vouch's own, src/stages/secrets/rules.ts), whole private-key blocks, and exact values the
// stage knows are secret (the model credential). Each secret becomes `[REDACTED:<rule>]`, which keeps a JSON line
// valid and which the secrets stage reports as a finding when it scans the transcript, so its gate fails.
// Then the stream-json events are read: tool calls counted, the agent's version and session from system/init.

import { lintSource } from '@secretlint/core';
import { creator as recommendedPreset } from '@secretlint/secretlint-rule-preset-recommend';
import { BUILTIN_RULES, matchLine, type LineRule } from '../secrets/rules.ts';

export interface Redaction {
  rule: string;
  /** 1-based line of the transcript */
  line: number;
  /** characters removed (the secret itself is never kept) */
  length: number;
}

const PEM_BLOCK = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/g;

export async function redactSecrets(text: string, known: readonly { rule: string; value: string }[], extraRules: readonly LineRule[] = []): Promise<{ text: string; redactions: Redaction[] }> {
  const ranges: { start: number; end: number; rule: string }[] = [];
  for (const k of known) {
    if (k.value.length < 4) continue;
    for (let i = text.indexOf(k.value); i >= 0; i = text.indexOf(k.value, i + k.value.length)) ranges.push({ start: i, end: i + k.value.length, rule: k.rule });
  }
  for (const m of text.matchAll(PEM_BLOCK)) ranges.push({ start: m.index, end: m.index + m[0].length, rule: 'vouch/private-key-block' });
  const result = await lintSource({
    source: { filePath: 'transcript', content: text, contentType: 'text', ext: '' },
    options: { config: { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: recommendedPreset }] }, maskSecrets: true, noPhysicFilePath: true },
  });
  for (const m of result.messages) ranges.push({ start: m.range[0], end: m.range[1], rule: m.ruleId });
  let offset = 0;
  for (const line of text.split('\n')) {
    for (const rule of [...BUILTIN_RULES.filter((r) => !r.appliesTo), ...extraRules]) {
      for (const m of matchLine(rule, line)) ranges.push({ start: offset + m.column - 1, end: offset + m.column - 1 + m.secret.length, rule: rule.id });
    }
    offset += line.length + 1;
  }
  // overlapping findings become one redaction, named by the first rule that found it
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: typeof ranges = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r.start < last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  const redactions: Redaction[] = [];
  let out = '';
  let at = 0;
  for (const r of merged) {
    out += text.slice(at, r.start) + `[REDACTED:${r.rule}]`;
    redactions.push({ rule: r.rule, line: text.slice(0, r.start).split('\n').length, length: r.end - r.start });
    at = r.end;
  }
  return { text: out + text.slice(at), redactions };
}

export interface TranscriptSummary {
  /** stream-json when every non-empty line is a JSON object with a type (Claude Code's format), else text */
  format: 'stream-json' | 'text';
  events: number;
  /** tool_use blocks of assistant messages (stream-json only; null for text) */
  toolCalls: number | null;
  toolsByName: Record<string, number>;
  /** from system/init */
  agentVersion?: string;
  model?: string;
  sessionId?: string;
  /** from the final result event */
  result?: { subtype: string; isError: boolean; numTurns?: number };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads Claude Code stream-json events (system/init, assistant with tool_use, user with tool_result, result). */
export function summarizeTranscript(text: string): TranscriptSummary {
  const events: Record<string, unknown>[] = [];
  const lines = text.split('\n');
  // a run stopped mid-line (timeout, output limit) leaves its last event cut: it is not an event
  if (!text.endsWith('\n')) lines.pop();
  for (const line of lines) {
    if (line.trim() === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return { format: 'text', events: 0, toolCalls: null, toolsByName: {} };
    }
    if (!isRecord(v) || typeof v['type'] !== 'string') return { format: 'text', events: 0, toolCalls: null, toolsByName: {} };
    events.push(v);
  }
  if (events.length === 0) return { format: 'text', events: 0, toolCalls: null, toolsByName: {} };
  const summary: TranscriptSummary = { format: 'stream-json', events: events.length, toolCalls: 0, toolsByName: {} };
  for (const e of events) {
    if (e['type'] === 'system' && e['subtype'] === 'init') {
      if (typeof e['claude_code_version'] === 'string') summary.agentVersion = e['claude_code_version'];
      if (typeof e['model'] === 'string') summary.model = e['model'];
      if (typeof e['session_id'] === 'string') summary.sessionId = e['session_id'];
    } else if (e['type'] === 'assistant' && isRecord(e['message']) && Array.isArray(e['message']['content'])) {
      for (const block of e['message']['content'] as unknown[]) {
        if (isRecord(block) && block['type'] === 'tool_use') {
          const name = typeof block['name'] === 'string' ? block['name'] : '?';
          summary.toolCalls = (summary.toolCalls ?? 0) + 1;
          summary.toolsByName[name] = (summary.toolsByName[name] ?? 0) + 1;
        }
      }
    } else if (e['type'] === 'result') {
      summary.result = {
        subtype: typeof e['subtype'] === 'string' ? e['subtype'] : '',
        isError: e['is_error'] === true,
        ...(typeof e['num_turns'] === 'number' ? { numTurns: e['num_turns'] } : {}),
      };
    }
  }
  return summary;
}
