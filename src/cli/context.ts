import type { Command } from 'commander';
import { loadConfig, type VouchConfig } from '../common/config.ts';
import { ExitCode, VouchError, errorMessage } from '../common/errors.ts';
import { configureLogging, logger, type LogLevel } from '../common/log.ts';

/** Global options every subcommand sees (declared on the root program in main.ts). */
export interface GlobalOptions {
  config?: string;
  logLevel?: LogLevel;
  logFormat?: 'json' | 'pretty' | 'auto';
}

/** Loads config once, configures the logger from config and flags. */
export function setup(command: Command): VouchConfig {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const config = loadConfig(globals.config === undefined ? {} : { file: globals.config });
  configureLogging({
    level: globals.logLevel ?? (config.log.level as LogLevel),
    format: globals.logFormat ?? config.log.format,
  });
  return config;
}

/** Where a command writes its result for a person or a program: stdout, nothing else. */
export function out(line: string): void {
  process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}

/**
 * Runs a command's action and turns every failure into one line on stderr and a stable exit code.
 * Returning a number sets the exit code (e.g. 1 for "verified: no").
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | undefined> | number | undefined): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      process.exitCode = code ?? ExitCode.ok;
    } catch (err) {
      reportError(err);
    }
  };
}

export function reportError(err: unknown): void {
  if (err instanceof VouchError) {
    process.stderr.write(`vouch: ${err.message} [${err.code}]\n`);
    logger().debug({ err }, 'command failed');
    process.exitCode = err.exitCode;
    return;
  }
  process.stderr.write(`vouch: internal error: ${errorMessage(err)}\n`);
  if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exitCode = ExitCode.internal;
}

/** commander argParser for a repeatable option: each use appends to the list. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
