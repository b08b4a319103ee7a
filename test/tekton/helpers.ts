import { expect } from 'chai';
import { isVouchError, type VouchError } from '../../src/common/errors.ts';
import type { Problem } from '../../src/tekton/problems.ts';

/** "line:col" (1-based) of the n-th occurrence of `needle` in `text`: where a message must point. */
export function pos(text: string, needle: string, nth = 0): string {
  let at = -1;
  for (let i = 0; i <= nth; i++) {
    at = text.indexOf(needle, at + 1);
    if (at < 0) throw new Error(`test bug: "${needle}" (#${nth}) not in text`);
  }
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const col = at - before.lastIndexOf('\n');
  return `${line}:${col}`;
}

/** Runs fn, expects TEKTON_INVALID, returns the error and its problems. */
export function invalidOf(fn: () => unknown): { err: VouchError; problems: Problem[] } {
  try {
    fn();
  } catch (err) {
    if (!isVouchError(err, 'TEKTON_INVALID')) throw err;
    return { err, problems: (err.details?.['problems'] ?? []) as Problem[] };
  }
  expect.fail('expected TEKTON_INVALID');
}

/** Asserts one problem at file:line:col with the field path and a message containing `includes`. */
export function expectProblem(problems: Problem[], where: string, path: string, includes: string): void {
  const match = problems.find((p) => `${p.file}:${p.line}:${p.col}` === where && p.path === path && p.message.includes(includes));
  expect(match, `no problem ${where} ${path} "${includes}" in:\n${problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.path}: ${p.message}`).join('\n')}`).to.not.equal(undefined);
}
