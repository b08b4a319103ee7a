// The webhook's certificate and key as files that change under it: cert-manager renews the Secret, the kubelet swaps
// the mounted files (atomically, through the `..data` symlink), and the API server keeps calling. A webhook that read
// its files only at start would serve the old certificate until it expires, and then every admission in a labelled
// namespace fails. So the files are looked at periodically and a changed pair is taken without a restart, but only
// when it is a usable pair: a half-replaced pair (mounted by hand, written non-atomically) or a key that does not
// match the certificate is refused with a warning and the current one goes on serving.

import { createHash, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { errorMessage, VouchError } from '../common/errors.ts';
import { logger } from '../common/log.ts';

export interface TlsPair {
  cert: string | Buffer;
  key: string | Buffer;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** The server options a pair is served with (also what a reload hands to setSecureContext). */
export function secureContextOptions(pair: TlsPair): SecureContextOptions {
  return { cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' };
}

const digestOf = (pair: { cert: Buffer; key: Buffer }): string => createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');

/** What the served certificate is, for the log: public facts only, never anything of the key. */
function describe(cert: Buffer): Record<string, string> {
  try {
    const x = new X509Certificate(cert);
    return { subject: x.subject.replace(/\n/g, ', '), notAfter: x.validTo, fingerprint256: x.fingerprint256 };
  } catch {
    return {};
  }
}

export type TlsCheck = 'unchanged' | 'reloaded' | 'refused';

/** Reads a pair of PEM files; a missing or unreadable file is CONFIG_INVALID (the error names the code, not content). */
export async function readTlsFiles(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer }> {
  try {
    return { cert: await readFile(files.certFile), key: await readFile(files.keyFile) };
  } catch (err) {
    throw new VouchError('CONFIG_INVALID', `cannot read the admission TLS files: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

/**
 * Watches a certificate/key file pair by content (polling: inotify does not see the kubelet's symlink swap reliably,
 * and one read of two small files a minute costs nothing). `apply` gets each new usable pair.
 */
export class TlsFileWatch {
  private readonly files: TlsFiles;
  private readonly apply: (pair: TlsPair) => void;
  private current: string;
  /** the last refused pair, so a bad pair is reported once, not at every look */
  private refused: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<TlsCheck> | undefined;

  constructor(files: TlsFiles, loaded: { cert: Buffer; key: Buffer }, apply: (pair: TlsPair) => void) {
    this.files = files;
    this.apply = apply;
    this.current = digestOf(loaded);
  }

  /** Looks at the files now. Never throws: a pair that cannot be read or used keeps the current one serving. */
  check(): Promise<TlsCheck> {
    // one look at a time: a slow disk must not let two reads race to apply
    this.checking ??= this.look().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async look(): Promise<TlsCheck> {
    let pair: { cert: Buffer; key: Buffer };
    try {
      pair = await readTlsFiles(this.files);
    } catch (err) {
      return this.refuse(`tls-read ${errorMessage(err)}`, errorMessage(err));
    }
    const digest = digestOf(pair);
    if (digest === this.current) return 'unchanged';
    try {
      // throws on unparsable PEM and on a key that is not the certificate's ("key values mismatch")
      createSecureContext(secureContextOptions(pair));
      this.apply(pair);
    } catch (err) {
      return this.refuse(digest, `the changed TLS certificate or key cannot be used (${errorMessage(err)}); the current one goes on serving`);
    }
    this.current = digest;
    this.refused = undefined;
    logger('admission').info({ certFile: this.files.certFile, ...describe(pair.cert) }, 'admission TLS certificate reloaded');
    return 'reloaded';
  }

  private refuse(what: string, message: string): TlsCheck {
    if (this.refused !== what) logger('admission').warn({ certFile: this.files.certFile, keyFile: this.files.keyFile }, message);
    this.refused = what;
    return 'refused';
  }

  /** Looks every `everyMs` until stop(); the timer does not keep the process alive. */
  start(everyMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      void this.check();
    }, everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
