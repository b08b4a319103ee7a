import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadPrivateKey, loadPublicKey, writeKeyPair } from '../attest/keys.ts';
import { rekorWitness, signStatement } from '../attest/sign.ts';
import { buildStatement } from '../attest/statement.ts';
import { verifyBundle } from '../attest/verify.ts';
import { sha256File } from '../common/digest.ts';
import { errorMessage, isVouchError } from '../common/errors.ts';
import { EmbeddedLog } from '../tlog/log.ts';
import { serve } from '../tlog/server.ts';
import { trustedRootFor } from '../tlog/trusted-root.ts';
import { action, out, setup } from './context.ts';

// `vouch demo` (what `npm start` runs): the trust core end to end on bundled example data, over real HTTP, printing
// each step. When the agent-pr-verify pipeline lands (issue 10), this becomes the whole pipeline on an example change.

const EXAMPLE = fileURLToPath(new URL('../../hack/demo/', import.meta.url));
const TEST_RESULT = 'https://in-toto.io/attestation/test-result/v0.1';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run the trust core end to end on bundled example data: key, embedded log over HTTP, signed statement, bundle, offline verification, tamper check')
    .option('--dir <dir>', 'where to keep what it makes (default: a new temporary directory)')
    .action(
      action(async (opts: { dir?: string }, cmd: Command): Promise<number> => {
        setup(cmd);
        const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vouch-demo-'));
        const step = (n: number, text: string): void => {
          out(`\n${n}. ${text}`);
        };
        out(`vouch demo: the trust core end to end (working directory ${dir})`);

        step(1, 'Generate a signing key (ECDSA P-256)');
        const keys = await writeKeyPair(join(dir, 'signer'));
        out(`   ${keys.keyPath}, ${keys.pubPath}; key id ${keys.keyId.slice(0, 16)}…`);
        out('   (unencrypted for the demo; set VOUCH_KEY_PASSWORD when you run `vouch keys generate` for real)');

        step(2, 'Start the embedded Rekor-compatible transparency log on loopback');
        const log = await EmbeddedLog.open(join(dir, 'tlog'));
        const server = await serve(log, '127.0.0.1', 0);
        try {
          out(`   ${server.url}  (log id ${log.logId.slice(0, 16)}…, data in ${relative(dir, log.dir)}/)`);
          const trustedRootPath = join(dir, 'trusted_root.json');
          const trustedRoot = trustedRootFor(log);
          writeFileSync(trustedRootPath, `${JSON.stringify(trustedRoot, null, 2)}\n`);
          out(`   its Sigstore trusted root: ${trustedRootPath}`);

          step(3, 'Describe an artifact in an in-toto Statement v1 (a test-result predicate)');
          const artifactPath = join(EXAMPLE, 'app.js');
          const digest = await sha256File(artifactPath);
          const predicate = JSON.parse(readFileSync(join(EXAMPLE, 'test-result.json'), 'utf8')) as Record<string, unknown>;
          const statement = buildStatement({ subjects: [{ name: 'app.js', sha256: digest }], predicateType: TEST_RESULT, predicate });
          out(`   subject app.js sha256:${digest.slice(0, 16)}…, predicate ${TEST_RESULT}`);

          step(4, 'Sign it (DSSE) and log it through the Rekor v1 REST API, then write the Sigstore bundle v0.3');
          const privateKey = await loadPrivateKey(keys.keyPath);
          const signed = await signStatement({ statement, privateKey, witness: rekorWitness({ rekorBaseURL: server.url }), logTrustedRoot: trustedRoot });
          const bundlePath = join(dir, 'app.js.sigstore.json');
          writeFileSync(bundlePath, `${JSON.stringify(signed.json, null, 2)}\n`);
          const entry = signed.bundle.verificationMaterial.tlogEntries[0]!;
          out(`   ${entry.kindVersion?.kind ?? '?'} entry #${entry.logIndex} at ${new Date(Number(entry.integratedTime) * 1000).toISOString()}; bundle ${bundlePath}`);

          step(5, 'Verify the bundle offline with @sigstore/verify against the log\'s trusted root and the signer\'s key');
          const bundleJson: unknown = JSON.parse(readFileSync(bundlePath, 'utf8'));
          const publicKey = { publicKey: await loadPublicKey(keys.pubPath) };
          const result = verifyBundle({ bundle: bundleJson, artifact: { sha256: digest }, policy: publicKey, trustedRoot });
          for (const check of result.checks) out(`   ✓ ${check}`);
          out(`   the same from a shell: npm run vouch -- verify-bundle --bundle ${bundlePath} --key ${keys.pubPath} --trusted-root ${trustedRootPath} ${artifactPath}`);

          step(6, 'Tamper with the signed statement: verification must fail');
          const forged = structuredClone(bundleJson) as { dsseEnvelope: { payload: string } };
          const payload = JSON.parse(Buffer.from(forged.dsseEnvelope.payload, 'base64').toString('utf8')) as { predicate: { result: string } };
          payload.predicate.result = payload.predicate.result === 'PASSED' ? 'FAILED' : 'PASSED';
          forged.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
          try {
            verifyBundle({ bundle: forged, artifact: { sha256: digest }, policy: publicKey, trustedRoot });
            out('   UNEXPECTED: the tampered bundle verified');
            return 1;
          } catch (err) {
            if (!isVouchError(err)) throw err;
            out(`   rejected as it must be: ${errorMessage(err)}`);
          }

          step(7, 'The log itself');
          const info = log.info();
          out(`   tree size ${info.treeSize}, root ${info.rootHash.slice(0, 16)}…; signed checkpoint:`);
          out(info.signedTreeHead.trimEnd().split('\n').map((l) => `     ${l}`).join('\n'));
        } finally {
          await server.close();
          await log.close();
        }
        out(`\nDone. Everything it made is in ${dir}`);
        return 0;
      }),
    );
}
