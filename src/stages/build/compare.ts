// What differs between the two builds' copies of one output: always a file-level account (which members of a tar or
// tar.gz differ and how, or where the bytes part), and diffoscope's full report when it is installed (Debian
// `diffoscope-minimal`).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { diffTars, maybeGunzip, readTar, type MemberDifference } from './tar.ts';

export interface OutputDifference {
  /** the output, relative to the tree */
  output: string;
  /** one line per difference, e.g. "package/stamp.txt: content (29 vs 29 bytes)" */
  differences: string[];
  /** members of the archive that differ, when the output is a tar or tar.gz */
  members?: MemberDifference[];
  /** diffoscope's text report (truncated), when it ran */
  diffoscope?: string;
}

const DIFFOSCOPE_LIMIT = 64 * 1024;

/** diffoscope's text report, or undefined when diffoscope is not installed or failed. */
export function runDiffoscope(a: string, b: string, timeoutSeconds = 300): string | undefined {
  const r = spawnSync('diffoscope', ['--no-progress', '--text', '-', '--max-report-size', String(DIFFOSCOPE_LIMIT), a, b], { encoding: 'utf8', timeout: timeoutSeconds * 1000, maxBuffer: 16 * 1024 * 1024 });
  // 0: identical, 1: differences found, anything else (or ENOENT): no report
  if (r.error !== undefined || (r.status !== 0 && r.status !== 1)) return undefined;
  return r.stdout.length > DIFFOSCOPE_LIMIT ? r.stdout.slice(0, DIFFOSCOPE_LIMIT) + '\n…(truncated)\n' : r.stdout;
}

/** The file-level account of two differing byte strings. */
export function describeDifference(a: Buffer, b: Buffer): { differences: string[]; members?: MemberDifference[] } {
  const ua = maybeGunzip(a);
  const ub = maybeGunzip(b);
  if (ua !== undefined && ub !== undefined) {
    const ta = readTar(ua);
    const tb = readTar(ub);
    if (ta !== undefined && tb !== undefined) {
      const members = diffTars(ta, tb);
      if (members.length > 0) return { differences: members.map((m) => `${m.name}: ${m.what.join(', ')}`), members };
    }
    if (ua.equals(ub) && !a.equals(b)) return { differences: ['the compressed bytes differ but the content is the same (gzip header: mtime or file name)'] };
  }
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return { differences: [`${String(a.length)} vs ${String(b.length)} bytes, first difference at byte ${String(i)}`] };
}

export function compareOutputs(output: string, fileA: string, fileB: string, useDiffoscope: boolean): OutputDifference {
  const d = describeDifference(readFileSync(fileA), readFileSync(fileB));
  const diffoscope = useDiffoscope ? runDiffoscope(fileA, fileB) : undefined;
  return { output, ...d, ...(diffoscope === undefined ? {} : { diffoscope }) };
}
