import { renameSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Witness } from '@sigstore/sign';
import { loadPrivateKey } from '../attest/keys.ts';
import { rekorWitness, signStatement } from '../attest/sign.ts';
import { buildStatement } from '../attest/statement.ts';
import { readJsonFile } from '../attest/trust.ts';
import type { VouchConfig } from '../common/config.ts';
import { parseSha256Digest } from '../common/digest.ts';
import { errorMessage, VouchError } from '../common/errors.ts';
import { EmbeddedLog } from '../tlog/log.ts';
import { trustedRootFor } from '../tlog/trusted-root.ts';
import { EmbeddedLogWitness } from '../tlog/witness.ts';
import { action, collect, out, setup } from './context.ts';

// `vouch attest`: build an in-toto Statement v1, sign it as DSSE with a long-lived key, log it (a Rekor v1 log by
// URL, or the embedded log in-process), verify what came back, write the Sigstore bundle.

const MAX_PREDICATE_BYTES = 16 * 1024 * 1024;

interface AttestFlags {
  predicateType: string;
  predicate: string;
  subject: string[];
  key?: string;
  rekor?: string;
  entryType: 'dsse' | 'intoto';
  trustedRoot?: string;
  out: string;
}

/** Opens the embedded log in `tlog.data` in-process: a witness over it, and its trusted root to verify the answer. */
async function embeddedLog(config: VouchConfig, entryType: 'dsse' | 'intoto'): Promise<{ witness: Witness; trustedRoot: unknown; describe: string; close: () => Promise<void> }> {
  const log = await EmbeddedLog.open(config.tlog.data);
  return {
    witness: new EmbeddedLogWitness(log, entryType),
    trustedRoot: trustedRootFor(log),
    describe: `the embedded log ${config.tlog.data} (${log.name})`,
    close: () => log.close(),
  };
}

export function registerAttest(program: Command): void {
  program
    .command('attest')
    .description(
      'sign an in-toto statement (v1) about one or more artifacts with a long-lived key (DSSE), log it in a ' +
        'transparency log and write the Sigstore bundle (v0.3). With --rekor the log is a Rekor v1 compatible server ' +
        '(config tlog.url); without it, the embedded log in tlog.data, in-process. The bundle is verified before it ' +
        'is written whenever the log key is known (always for the embedded log; with --trusted-root for --rekor).',
    )
    .requiredOption('--predicate-type <uri>', 'predicate type URI, e.g. https://slsa.dev/provenance/v1')
    .requiredOption('--predicate <file>', 'the predicate: a JSON object')
    .requiredOption('--subject <name=sha256:hex>', 'an artifact the statement is about (repeatable)', collect, [])
    .option('--key <file>', 'PKCS#8 PEM private key (default: config signing.key); password from the environment variable named by signing.passwordEnv')
    .option('--rekor <url>', 'Rekor v1 compatible log to use (default: config tlog.url; empty: the embedded log)')
    .addOption(new Option('--entry-type <type>', 'Rekor entry kind').choices(['dsse', 'intoto']).default('dsse'))
    .option('--trusted-root <file>', "the log's trusted_root.json, to verify its answer (with --rekor)")
    .requiredOption('--out <file>', 'where to write the bundle (JSON)')
    .addHelpText(
      'after',
      `
Example:
  vouch attest --predicate-type https://slsa.dev/provenance/v1 --predicate prov.json \\
      --subject app.tar=sha256:0123…cdef --key signer.key --rekor http://127.0.0.1:3000 --out app.sigstore.json`,
    )
    .action(
      action(async (opts: AttestFlags, cmd: Command): Promise<undefined> => {
        const config = setup(cmd);
        if (opts.subject.length === 0) throw new VouchError('USAGE', 'give at least one --subject NAME=sha256:HEX');
        const subjects = opts.subject.map(parseSubject);
        const predicate = readJsonFile(opts.predicate, MAX_PREDICATE_BYTES, 'INPUT_INVALID', 'predicate');
        if (typeof predicate !== 'object' || predicate === null || Array.isArray(predicate)) {
          throw new VouchError('INPUT_INVALID', `${opts.predicate}: the predicate must be a JSON object`);
        }
        const statement = buildStatement({ subjects, predicateType: opts.predicateType, predicate });

        const keyPath = opts.key ?? config.signing.key;
        if (!keyPath) throw new VouchError('USAGE', 'no signing key: give --key FILE or set signing.key in the config');
        const password = process.env[config.signing.passwordEnv] || undefined;
        const privateKey = await loadPrivateKey(keyPath, password);

        const rekor = opts.rekor ?? (config.tlog.url || undefined);
        let witness: Witness;
        let trustedRoot: unknown;
        let where: string;
        let close = (): Promise<void> => Promise.resolve();
        if (rekor !== undefined) {
          try {
            new URL(rekor);
          } catch {
            throw new VouchError('USAGE', `--rekor: not a URL: ${JSON.stringify(rekor)}`);
          }
          witness = rekorWitness({ rekorBaseURL: rekor, entryType: opts.entryType });
          trustedRoot = opts.trustedRoot ? readJsonFile(opts.trustedRoot, 4 * 1024 * 1024, 'TRUSTED_ROOT_INVALID', 'trusted root') : undefined;
          where = rekor;
        } else {
          if (opts.trustedRoot) throw new VouchError('USAGE', '--trusted-root goes with --rekor; the embedded log verifies with its own key');
          const log = await embeddedLog(config, opts.entryType);
          witness = log.witness;
          trustedRoot = log.trustedRoot;
          where = log.describe;
          close = log.close;
        }
        let signed;
        try {
          signed = await signStatement(trustedRoot === undefined ? { statement, privateKey, witness } : { statement, privateKey, witness, logTrustedRoot: trustedRoot });
        } finally {
          await close();
        }
        writeAtomically(opts.out, `${JSON.stringify(signed.json, null, 2)}\n`);
        const entry = signed.bundle.verificationMaterial.tlogEntries[0];
        out(`wrote ${opts.out}: ${statement.predicateType} about ${subjects.map((s) => s.name).join(', ')}`);
        out(`signed by key ${signed.keyId}; logged in ${where} as ${entry?.kindVersion?.kind ?? '?'} entry #${entry?.logIndex ?? '?'}`);
        out(signed.verification ? 'verified against the log key before writing' : 'NOT verified against the log key: give --trusted-root with the log\'s trusted_root.json to check its answer');
        return undefined;
      }),
    );
}


/** NAME=sha256:HEX; the name may itself contain '=' (the digest never does). */
export function parseSubject(text: string): { name: string; sha256: string } {
  const at = text.lastIndexOf('=');
  if (at <= 0) throw new VouchError('USAGE', `--subject ${JSON.stringify(text)}: expected NAME=sha256:HEX`);
  const name = text.slice(0, at);
  try {
    return { name, sha256: parseSha256Digest(text.slice(at + 1)) };
  } catch (err) {
    throw new VouchError('USAGE', `--subject ${JSON.stringify(text)}: ${errorMessage(err)}`);
  }
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, path);
  } catch (err) {
    throw new VouchError('IO', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}
