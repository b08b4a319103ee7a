import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LogSettings {
  level?: LogLevel;
  /** json for services and machines, pretty for a person at a terminal; auto picks pretty when stderr is a TTY */
  format?: 'json' | 'pretty' | 'auto';
  /** where the lines go; logs never go to stdout, which belongs to a command's output */
  destination?: DestinationStream;
}

// Field names that may carry secrets anywhere in a log object. pino replaces their values before serialising.
const REDACT_PATHS = [
  'password', '*.password', 'passphrase', '*.passphrase', 'privateKey', '*.privateKey', 'key', '*.key',
  'token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization',
  'secret', '*.secret', 'apiKey', '*.apiKey',
];

let root: Logger | undefined;

/** The one logger. Configure once (the CLI does, from config and flags); rooms take children of it. */
export function configureLogging(settings: LogSettings = {}): Logger {
  const level = settings.level ?? (process.env['VOUCH_LOG_LEVEL'] as LogLevel | undefined) ?? 'info';
  const format = settings.format ?? 'auto';
  const usePretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY);
  const options: LoggerOptions = {
    level,
    base: { service: 'vouch' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  const destination =
    settings.destination ??
    (usePretty
      ? pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY, ignore: 'pid,hostname,service' })
      : pino.destination({ dest: 2, sync: true }));
  root = pino(options, destination);
  return root;
}

export function logger(component?: string): Logger {
  root ??= configureLogging();
  return component ? root.child({ component }) : root;
}
