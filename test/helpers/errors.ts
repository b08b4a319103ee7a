import { expect } from 'chai';
import { isVouchError } from '../../src/common/errors.ts';

/** Awaits `p`, expects it to reject with a VouchError of `code` (and a message matching `pattern`), returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: string, pattern?: RegExp): Promise<Error> {
  try {
    await p;
  } catch (err) {
    expect(isVouchError(err), String(err)).to.equal(true);
    expect((err as { code: string }).code, (err as Error).message).to.equal(code);
    if (pattern) expect((err as Error).message).to.match(pattern);
    return err as Error;
  }
  throw new Error(`expected a ${code} error`);
}
