import { Writable } from 'node:stream';
import { configureLogging, type LogLevel } from '../../src/common/log.ts';

/**
 * Sends vouch's log (JSON lines, from `level` up) into the returned array until configureLogging is called again.
 * Empty it with `lines.length = 0`: the log keeps writing into this very array.
 */
export function captureLogs(level: LogLevel): string[] {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  configureLogging({ level, format: 'json', destination });
  return lines;
}
