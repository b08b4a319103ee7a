import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';
import { DEFAULT_LOG_NAME, EmbeddedLog, readLogIdentity } from '../tlog/log.ts';
import { DEFAULT_MAX_BODY_BYTES, serve } from '../tlog/server.ts';
import { trustedRootFor } from '../tlog/trusted-root.ts';
import { action, out, setup } from './context.ts';

// `vouch log …`: the embedded Rekor v1 compatible transparency log as a service, and its trusted root.

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new VouchError('USAGE', `--listen ${JSON.stringify(listen)} is not HOST:PORT (e.g. 127.0.0.1:3000; port 0 picks a free one)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

export function registerLog(program: Command): void {
  const log = program
    .command('log')
    .description('the embedded transparency log: a Rekor v1 compatible server (dsse, intoto and hashedrekord entries) and its trusted root')
    .addHelpText(
      'after',
      `
The log keeps everything in one data directory: log.key (its ECDSA P-256 key, created on first start, mode 0600),
log.json (its name, tree ID and creation time) and entries.log (the entries, append-only, fsynced before any
answer). Clients speak Rekor's REST API to it (/api/v1/log/entries, /api/v1/log, /api/v1/log/proof,
/api/v1/index/retrieve, …); @sigstore/sign's RekorWitness and cosign's Rekor client work unchanged.

Verifiers trust it through a Sigstore trusted_root.json (\`vouch log trusted-root\`). The log signs its checkpoints
under its name, fixed at creation, and Sigstore verifiers require that name to appear in the log's URL in the
trusted root: name the log after the host clients use (--name), e.g. "localhost" for http://localhost:3000.

Examples:
  vouch log serve --data .vouch/tlog --listen 127.0.0.1:3000
  vouch log trusted-root --data .vouch/tlog --url http://127.0.0.1:3000 > trusted_root.json`,
    );

  log
    .command('serve')
    .description('serve the log over HTTP until SIGTERM/SIGINT (then it stops accepting, finishes and fsyncs what is in flight, and exits 0)')
    .option('--data <dir>', 'data directory (default: config tlog.data, .vouch/tlog)')
    .option('--listen <host:port>', 'address to listen on; port 0 picks a free port', '127.0.0.1:3000')
    .option('--name <name>', `checkpoint signer name, set when the log is created (default: the --listen host, or "${DEFAULT_LOG_NAME}" for a wildcard address)`)
    .addOption(new Option('--max-body <bytes>', 'largest request body accepted; larger ones get 413').default(DEFAULT_MAX_BODY_BYTES).argParser((v) => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1024) throw new VouchError('USAGE', '--max-body must be an integer of at least 1024');
      return n;
    }))
    .action(
      action(async (opts: { data?: string; listen: string; name?: string; maxBody: number }, cmd: Command): Promise<number> => {
        const config = setup(cmd);
        const dir = opts.data ?? config.tlog.data;
        const { host, port } = parseListen(opts.listen);
        const isNew = !existsSync(join(dir, 'log.json'));
        const wildcard = host === '0.0.0.0' || host === '::' || host === '';
        const name = opts.name ?? (isNew ? (wildcard ? DEFAULT_LOG_NAME : host.includes(':') ? DEFAULT_LOG_NAME : host) : undefined);
        const tlog = await EmbeddedLog.open(dir, name === undefined ? {} : { name });
        let running;
        try {
          running = await serve(tlog, host, port, { maxBodyBytes: opts.maxBody });
        } catch (err) {
          await tlog.close();
          throw new VouchError('IO', `cannot listen on ${opts.listen}: ${(err as Error).message}`, { cause: err });
        }
        out(`vouch log: ${dir} (name ${tlog.name}, logID ${tlog.logId}, ${tlog.size} entries)`);
        out(`listening on ${running.url}`);
        await new Promise<void>((resolve) => {
          const stop = (signal: NodeJS.Signals): void => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            logger().info({ signal }, 'log server stopping');
            void running
              .close()
              .then(() => tlog.close())
              .then(resolve, (err: unknown) => {
                logger().error({ err }, 'log server did not stop cleanly');
                resolve();
              });
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        out('vouch log: stopped; every acknowledged entry is on disk');
        return 0;
      }),
    );

  log
    .command('trusted-root')
    .description("print a Sigstore trusted_root.json naming this log (its key, log ID and validity start), for stock verifiers")
    .option('--data <dir>', 'data directory (default: config tlog.data)')
    .option('--url <url>', "the log's base URL as clients reach it; must contain the log's name (default: http://NAME)")
    .action(
      action(async (opts: { data?: string; url?: string }, cmd: Command): Promise<undefined> => {
        const config = setup(cmd);
        const identity = await readLogIdentity(opts.data ?? config.tlog.data);
        out(JSON.stringify(trustedRootFor(identity, opts.url === undefined ? {} : { url: opts.url }), null, 2));
      }),
    );
}
