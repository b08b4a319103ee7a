import { isVouchError } from '../../src/common/errors.ts';
import { parsePolicy } from '../../src/policy/index.ts';

/** The problems POLICY_INVALID lists for a policy file, as "at: path: message" (throws if the policy is accepted). */
export function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, 'base:.vouch/policy.yaml');
  } catch (err) {
    if (!isVouchError(err, 'POLICY_INVALID')) throw err;
    return ((err.details?.['problems'] ?? []) as { at: string; path: string; message: string }[]).map((p) => `${p.at}: ${p.path}: ${p.message}`);
  }
  throw new Error('expected POLICY_INVALID');
}
