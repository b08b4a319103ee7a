// `vouch osv sync`: fill the OSV database directory the sca stage reads (docs/sca.md) from osv.dev's export.
import { Option, type Command } from 'commander';
import { ExitCode } from '../common/errors.ts';
import { OSV_EXPORT_BASE, syncEcosystem } from '../stages/sca/sync.ts';
import { action, collect, out, setup } from './context.ts';


export function registerOsv(program: Command): void {
  const osv = program.command('osv').description('the OSV vulnerability database on disk (read by vouch task sca)');
  osv
    .command('sync')
    .description('download OSV advisories per ecosystem into DIR/<Ecosystem>/<id>.json; a failed download leaves DIR as it was')
    .addOption(new Option('--dir <dir>', 'the OSV database directory').makeOptionMandatory())
    .addOption(new Option('--ecosystem <name>', 'an OSV ecosystem (repeatable; default npm)').argParser(collect).default([]))
    .addOption(new Option('--url <base>', 'export base URL (a mirror)').default(OSV_EXPORT_BASE))
    .action(
      action(async (opts: { dir: string; ecosystem: string[]; url: string }, c: Command): Promise<number> => {
        setup(c);
        const ecosystems = opts.ecosystem.length > 0 ? opts.ecosystem : ['npm'];
        for (const ecosystem of ecosystems) {
          const r = await syncEcosystem(opts.dir, ecosystem, { baseUrl: opts.url });
          out(`${r.ecosystem}: ${String(r.records)} records, newest modified ${r.newestModified ?? 'never'} (from ${r.url})`);
        }
        return ExitCode.ok;
      }),
    );
}
