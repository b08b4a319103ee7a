#!/usr/bin/env node
// The one `vouch` command. Each group of subcommands lives in its own module beside this one and is registered here.
import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../common/errors.ts';
import { reportError } from './context.ts';
import { registerAttest } from './attest.ts';
import { registerDemo } from './demo.ts';
import { registerKeys } from './keys.ts';
import { registerRun } from './run.ts';
import { registerSidecar } from './sidecar.ts';
import { registerTask } from './task.ts';
import { registerOsv } from './osv.ts';
import { registerLog } from './log.ts';
import { registerVerifyBundle } from './verify-bundle.ts';
import { registerListen } from './listen.ts';
import { registerApprove } from './approve.ts';
import { registerAudit, registerVerify } from './verify.ts';
import { registerReport } from './report.ts';

export function buildProgram(): Command {
  const program = new Command('vouch')
    .description(
      'vouch verifies what autonomous coding agents propose, records how each artifact was made as signed in-toto ' +
        'provenance in a transparency log, and admits to production only images that can prove it.',
    )
    .version('0.1.0')
    .addOption(new Option('--config <file>', 'config file (YAML); also $VOUCH_CONFIG'))
    .addOption(new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']))
    .addOption(new Option('--log-format <format>', 'log format (auto: pretty on a terminal, JSON otherwise)').choices(['json', 'pretty', 'auto']))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Exit codes: 0 success; 1 verification, policy or run said no; 2 bad usage or input; 3 a dependency is
unavailable; 70 internal error. Errors end with their stable code in brackets, e.g. [KEY_PASSWORD_WRONG].`,
    );
  program.exitOverride();
  registerKeys(program);
  registerRun(program);
  registerSidecar(program);
  registerLog(program);
  registerAttest(program);
  registerVerifyBundle(program);
  registerDemo(program);
  registerTask(program);
  registerOsv(program);
  registerListen(program);
  registerApprove(program);
  registerVerify(program);
  registerAudit(program);
  registerReport(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are successes; everything else commander rejects is a usage error
      process.exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
      return;
    }
    reportError(err);
  }
}

await main(process.argv.slice(2));
