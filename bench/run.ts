// npm run bench [-- NAME…]: runs bench/*.bench.ts (or the named ones) and prints one table.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, Report, type Bench } from './harness.ts';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv.slice(2);
const modules = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

const report = new Report();
for (const file of modules) {
  process.stderr.write(`${file}\n`);
  const mod = (await import(new URL(file, import.meta.url).href)) as { default: Bench };
  await mod.default(report);
}

const width = Math.max(...report.rows.map((r) => `${r.group} / ${r.name}`.length), 10);
process.stdout.write(`\nvouch benchmarks (node ${process.version}, ${new Date().toISOString()})\n`);
for (const r of report.rows) {
  process.stdout.write(`${`${r.group} / ${r.name}`.padEnd(width)}  ${format(r.value).padStart(12)} ${r.unit.padEnd(10)} ${r.note ?? ''}\n`);
}
