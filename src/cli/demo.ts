import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { sha256File } from '../common/digest.ts';
import { isVouchError, VouchError } from '../common/errors.ts';
import { preflightSandbox } from '../runner/sandbox.ts';
import { action, out, setup } from './context.ts';

// `vouch demo` (what `npm start` runs): the embedded default end to end on bundled example data. It runs the very
// commands a user would (printed before each one, so they can be repeated): a signing key, a Tekton pipeline under
// the local runner with the sidecar and the transparency log in the same process, then offline verification of the
// provenance the sidecar signed, and a tampered copy rejected. When the agent-pr-verify pipeline lands (issue 10),
// it takes the place of the example pipeline.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('./main.ts', import.meta.url));
const EXAMPLE = join(REPO, 'hack', 'demo');
const HOST_IMAGE = 'docker.io/library/debian*';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'run the embedded default end to end on bundled example data: a Tekton pipeline under the local runner, its ' +
        'provenance signed by the in-process sidecar and logged in the embedded transparency log, then verified offline',
    )
    .option('--dir <dir>', 'where to keep what it makes (default: a new temporary directory)')
    .action(
      action(async (opts: { dir?: string }, cmd: Command): Promise<number> => {
        setup(cmd);
        const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'vouch-demo-'));
        mkdirSync(dir, { recursive: true });
        const p = (...parts: string[]): string => join(dir, ...parts);
        out(`vouch demo: the agent-PR trust path on one machine (everything it makes goes to ${dir})`);

        step(1, 'Generate the signing key the sidecar signs with (ECDSA P-256)');
        await vouch(['keys', 'generate', '--out', p('signer')]);

        step(2, 'Run a Tekton pipeline locally; the sidecar in the same process attests it when it finishes');
        const sandboxFlags = sandboxAvailable() ? [] : ['--no-sandbox'];
        if (sandboxFlags.length > 0) {
          out('   bubblewrap is not installed, so these (bundled, trusted) demo steps run WITHOUT the step sandbox;');
          out('   install it (apt-get install bubblewrap) to see them isolated, as agent-written code must always be.');
        }
        mkdirSync(p('workspace'), { recursive: true });
        // the sidecar's own journal; a real deployment sets it in the config file (sidecar.data)
        const env = { VOUCH_SIDECAR_DATA: p('sidecar') };
        await vouch(
          [
            'run', '--pipeline', join(EXAMPLE, 'pipeline.yaml'), '-p', `source-dir=${EXAMPLE}`, '-w', `source=${p('workspace')}`,
            '--host-image', HOST_IMAGE, '--run-dir', p('run'),
            '--store', p('store'), '--log-data', p('tlog'), '--key', p('signer.key'), ...sandboxFlags,
          ],
          env,
        );

        const artifact = p('workspace', 'dist', 'greeter.tgz');
        const digest = await sha256File(artifact);
        const bundle = findBundle(p('store'), digest);
        out(`   built ${artifact} (sha256:${digest.slice(0, 16)}…); its signed provenance: ${bundle}`);

        step(3, "Export the embedded log's trusted root (what a verifier trusts: the log's key and name)");
        const trustedRoot = p('trusted_root.json');
        writeFileSync(trustedRoot, await vouch(['log', 'trusted-root', '--data', p('tlog')], {}, true));
        out(`   wrote ${trustedRoot}`);

        step(4, 'Verify the provenance offline: signature, log inclusion, and that it is about this exact artifact');
        const verify = ['verify-bundle', '--bundle', bundle, '--key', p('signer.pub'), '--trusted-root', trustedRoot];
        await vouch([...verify, artifact]);

        step(5, 'Tamper with the signed provenance (claim another builder): verification must fail');
        const forged = p('forged.sigstore.json');
        writeFileSync(forged, forge(readFileSync(bundle, 'utf8')));
        const refused = await vouch(['verify-bundle', '--bundle', forged, ...verify.slice(3), artifact], {}, false, true);
        if (refused === '') throw new VouchError('INTERNAL', 'the tampered bundle verified');

        out(`\nDone: the pipeline ran, its provenance was signed, logged and verified, and a forgery was refused.`);
        out(`Run directory (Tekton objects, step logs): ${p('run')}`);
        return 0;
      }),
    );
}

function step(n: number, text: string): void {
  out(`\n${n}. ${text}`);
}

function sandboxAvailable(): boolean {
  try {
    preflightSandbox({ enabled: true });
    return true;
  } catch (err) {
    if (isVouchError(err, 'SANDBOX_UNAVAILABLE')) return false;
    throw err;
  }
}

/**
 * Runs `vouch ARGS` as a child process with this Node, showing the command first. Its output goes to the terminal,
 * or is returned with `capture`. With `expectFailure`, a non-zero exit is the expected outcome: its stderr is returned
 * (and shown), and success is an error.
 */
async function vouch(args: string[], env: Record<string, string> = {}, capture = false, expectFailure = false): Promise<string> {
  const shown = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'vouch', ...args.map(quote)].join(' ');
  out(`   $ ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', capture ? 'pipe' : 'inherit', expectFailure ? 'pipe' : 'inherit'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (expectFailure) {
        out(`   refused as it must be: ${stderr.trim()}`);
        resolve(code === 0 ? '' : stderr);
      } else if (code === 0) resolve(stdout);
      else reject(new VouchError('INTERNAL', `the demo step \`vouch ${args[0] ?? ''}\` failed (exit ${code ?? 'signal'}); see its output above`));
    });
  });
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

/** The one bundle the sidecar stored for this digest (the store keeps bundles under the subject's sha256). */
function findBundle(store: string, digest: string): string {
  let files: string[];
  try {
    files = readdirSync(join(store, digest)).filter((f) => f.endsWith('.sigstore.json'));
  } catch {
    files = [];
  }
  if (files.length !== 1) throw new VouchError('INTERNAL', `expected one attestation for sha256:${digest} in ${store}, found ${files.length}`);
  return join(store, digest, files[0]!);
}

/** Rewrites the builder id inside the signed statement, leaving signature and log entry as they were. */
function forge(bundleText: string): string {
  const bundle = JSON.parse(bundleText) as { dsseEnvelope: { payload: string } };
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8')) as {
    predicate: { runDetails: { builder: { id: string } } };
  };
  statement.predicate.runDetails.builder.id = 'https://attacker.example/builder';
  bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
  return JSON.stringify(bundle);
}
