import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
// A bench module default-exports `async (report) => {...}`; bench/run.ts runs them all in one process, one after
// another, and prints every row side by side, so ratios compare numbers measured on the same machine in the same run.

export interface BenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  /** e.g. the goal, or what the number is compared with */
  note?: string;
}

export class Report {
  readonly rows: BenchRow[] = [];
  row(group: string, name: string, value: number, unit: string, note?: string): void {
    this.rows.push(note === undefined ? { group, name, value, unit } : { group, name, value, unit, note });
    process.stderr.write(`  ${group} / ${name}: ${format(value)} ${unit}${note ? `  (${note})` : ''}\n`);
  }
}

export type Bench = (report: Report) => Promise<void>;

/** Runs fn repeatedly for at least `ms` and returns operations per second. */
export async function rate(fn: () => unknown, ms = 1000): Promise<number> {
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    await fn();
    n++;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

export function format(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** One small write + fdatasync, back to back, in `dir`'s file system: what one unbatched durable write costs here. */
export async function rawFsyncRate(dir: string, ms = 1000): Promise<number> {
  const fd = openSync(join(dir, 'raw-fsync.bin'), 'w');
  const buf = Buffer.alloc(256, 1);
  try {
    return await rate(() => {
      writeSync(fd, buf);
      fdatasyncSync(fd);
    }, ms);
  } finally {
    closeSync(fd);
  }
}

/** node:crypto ECDSA P-256 sign and verify of a 256-byte message: the floor under every signature we make or check. */
export async function rawEcdsaRates(ms = 1000): Promise<{ sign: number; verify: number }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const msg = Buffer.alloc(256, 7);
  const sig = sign('sha256', msg, privateKey);
  return {
    sign: await rate(() => sign('sha256', msg, privateKey), ms),
    verify: await rate(() => verify('sha256', msg, publicKey, sig), ms),
  };
}
