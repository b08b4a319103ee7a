// Test reports the test stage reads: JUnit XML (any JUnit-style producer, including node --test's junit reporter)
// and TAP (node --test's tap reporter, with its indented subtests). Each becomes a flat list of test cases named by
// their suite path ("suite > test"). Malformed input is an error, never an empty (passing) result.

import { XMLParser } from 'fast-xml-parser';
import { SyntaxValidator } from 'fast-xml-validator';
import { VouchError } from '../../common/errors.ts';

export type CaseStatus = 'passed' | 'failed' | 'skipped';

export interface TestCase {
  name: string;
  status: CaseStatus;
  /** first line of the failure message, for the report */
  message?: string;
}

/** The separator between suite and test names. */
export const NAME_SEPARATOR = ' > ';

type XmlNode = Record<string, unknown>;

function children(node: XmlNode, tag: string): XmlNode[] {
  const v = node[tag];
  if (v === undefined) return [];
  // an element with text only is parsed as its text
  return (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'object' && x !== null ? (x as XmlNode) : typeof x === 'string' ? { '#text': x } : {}));
}

/** Numeric character references (&#10; &#x41;), which the parser leaves as they are. */
function decodeCharRefs(s: string): string {
  return s.replace(/&#(x[0-9a-f]+|[0-9]+);/gi, (ref, code: string) => {
    const n = code.startsWith('x') || code.startsWith('X') ? parseInt(code.slice(1), 16) : parseInt(code, 10);
    return n <= 0x10ffff ? String.fromCodePoint(n) : ref;
  });
}

function attr(node: XmlNode, name: string): string | undefined {
  const v = node[`@_${name}`];
  return typeof v === 'string' ? decodeCharRefs(v) : undefined;
}

function firstLine(text: string | undefined): string | undefined {
  const line = text?.trim().split('\n')[0]?.trim();
  return line ? line.slice(0, 200) : undefined;
}

/** Parses JUnit XML (`<testsuites>` or `<testsuite>` root, nested suites allowed). `file` names it in errors. */
export function parseJUnit(xml: string, file: string): TestCase[] {
  try {
    SyntaxValidator.validate(xml, { multipleRoots: false });
  } catch (err) {
    const e = err as { message?: string; line?: number; col?: number };
    throw new VouchError('STAGE_INPUT_INVALID', `JUnit report ${file} is not well-formed XML: ${e.message ?? String(err)} (line ${String(e.line ?? '?')}, column ${String(e.col ?? '?')})`);
  }
  // JUnit has no use for a DTD, and entity definitions are how XML parsers are made to blow up
  if (/<!DOCTYPE/i.test(xml)) throw new VouchError('STAGE_INPUT_INVALID', `JUnit report ${file} has a DOCTYPE, which JUnit reports never need; refused`);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@_', parseAttributeValue: false, parseTagValue: false, processEntities: true, isArray: (tag) => ['testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(tag) });
  const doc = parser.parse(xml) as XmlNode;
  const roots = [...children(doc, 'testsuites'), ...children(doc, 'testsuite').map((s) => ({ testsuite: [s] }))];
  if (roots.length === 0) throw new VouchError('STAGE_INPUT_INVALID', `JUnit report ${file} has neither a <testsuites> nor a <testsuite> root element`);
  const cases: TestCase[] = [];
  const walk = (node: XmlNode, path: string[]): void => {
    for (const tc of children(node, 'testcase')) {
      const name = attr(tc, 'name');
      if (name === undefined || name === '') throw new VouchError('STAGE_INPUT_INVALID', `JUnit report ${file}: a <testcase> has no name`);
      const failure = [...children(tc, 'failure'), ...children(tc, 'error')][0];
      const status: CaseStatus = failure ? 'failed' : children(tc, 'skipped').length ? 'skipped' : 'passed';
      const message = failure ? firstLine(attr(failure, 'message') ?? (typeof failure['#text'] === 'string' ? decodeCharRefs(failure['#text']) : undefined)) : undefined;
      cases.push({ name: [...path, name].join(NAME_SEPARATOR), status, ...(message ? { message } : {}) });
    }
    for (const suite of children(node, 'testsuite')) {
      const name = attr(suite, 'name');
      walk(suite, name ? [...path, name] : path);
    }
  };
  for (const root of roots) walk(root, []);
  return cases;
}

const TAP_RESULT = /^(\s*)(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)(?:\s+#\s*(SKIP|TODO)\b.*)?$/i;
const TAP_SUBTEST = /^(\s*)# Subtest: (.*)$/;

/**
 * Parses TAP (13/14, indented subtests as node --test prints them). Results with children are suites and are not
 * counted themselves; TODO counts as skipped. Text with no TAP version, plan or result line is an error.
 */
export function parseTap(text: string, file: string): TestCase[] {
  const lines = text.split(/\r?\n/);
  if (!lines.some((l) => /^\s*(TAP version \d+|\d+\.\.\d+|(not )?ok\b)/.test(l))) {
    throw new VouchError('STAGE_INPUT_INVALID', `${file} is not TAP output (no "TAP version", plan or "ok"/"not ok" line); for node --test use --test-reporter=tap or the junit reporter`);
  }
  const names: string[] = [];
  const hasChildren: boolean[] = [];
  const cases: TestCase[] = [];
  let inYaml = -1;
  for (const line of lines) {
    const indent = /^\s*/.exec(line)?.[0].length ?? 0;
    if (inYaml >= 0) {
      if (line.trim() === '...' && indent >= inYaml) inYaml = -1;
      continue;
    }
    if (line.trim() === '---') {
      inYaml = indent;
      continue;
    }
    const depth = Math.floor(indent / 4);
    const sub = TAP_SUBTEST.exec(line);
    if (sub) {
      names[depth] = sub[2] ?? '';
      names.length = depth + 1;
      continue;
    }
    if (/^\s*Bail out!/i.test(line)) {
      cases.push({ name: 'Bail out!', status: 'failed', message: line.trim() });
      continue;
    }
    const m = TAP_RESULT.exec(line);
    if (!m) continue;
    const ownName = (m[4] ?? '').trim() || `test ${m[3] ?? String(cases.length + 1)}`;
    if (depth > 0) hasChildren[depth - 1] = true;
    const isSuite = hasChildren[depth] === true;
    hasChildren.length = depth;
    if (isSuite) continue;
    const path = names.slice(0, depth).filter((n) => n !== '');
    const status: CaseStatus = m[5] ? 'skipped' : m[2]?.toLowerCase() === 'ok' ? 'passed' : 'failed';
    cases.push({ name: [...path, ownName].join(NAME_SEPARATOR), status });
  }
  return cases;
}

/** JUnit or TAP by content when the format is `auto`. */
export function parseReport(text: string, file: string, format: string): TestCase[] {
  const fmt = format === 'auto' ? (text.trimStart().startsWith('<') ? 'junit' : 'tap') : format;
  return fmt === 'junit' ? parseJUnit(text, file) : parseTap(text, file);
}
