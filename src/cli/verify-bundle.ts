import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { loadPublicKey } from '../attest/keys.ts';
import { MAX_TRUSTED_ROOT_BYTES, readJsonFile } from '../attest/trust.ts';
import { LIMITS, verifyBundle, type ArtifactInput, type VerifyPolicy } from '../attest/verify.ts';
import { sha256File } from '../common/digest.ts';
import { ExitCode, VouchError } from '../common/errors.ts';
import { action, out, setup } from './context.ts';

// `vouch verify-bundle`: the sigstore-conformance CLI protocol (docs/cli_protocol.md in sigstore/sigstore-conformance),
// exactly: `verify-bundle [--staging] --bundle FILE (--key PUB | --certificate-identity ID --certificate-oidc-issuer URL)
// [--trusted-root FILE] FILE_OR_DIGEST`; exit 0 when the bundle verifies, non-zero when it does not.

/** Artifacts up to this size are read whole; larger ones are digested as a stream and verified by digest. */
const MAX_ARTIFACT_IN_MEMORY = 256 * 1024 * 1024;

interface VerifyBundleFlags {
  bundle: string;
  key?: string;
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  trustedRoot?: string;
  staging?: boolean;
  json?: boolean;
}

export function registerVerifyBundle(program: Command): void {
  program
    .command('verify-bundle')
    .description(
      'verify a Sigstore bundle (v0.1-v0.3; hashedrekord, dsse, intoto; Rekor v1 and v2) against an artifact, offline. ' +
        'A bundle made with a long-lived key needs --key; a keyless one needs --certificate-identity and ' +
        '--certificate-oidc-issuer (both compared exactly). Without --trusted-root the Sigstore public-good trusted root ' +
        'shipped with vouch is used; nothing is fetched. For an in-toto statement in DSSE, the artifact must be one of ' +
        'its subjects. Follows the sigstore-conformance CLI protocol.',
    )
    .requiredOption('--bundle <file>', 'the Sigstore bundle (JSON)')
    .option('--key <pub>', 'PEM public key (SPKI) the bundle must be signed with')
    .option('--certificate-identity <id>', "expected identity (SAN) of the signing certificate, exact")
    .option('--certificate-oidc-issuer <url>', 'expected OIDC issuer of the signing certificate, exact')
    .option('--trusted-root <file>', 'Sigstore trusted_root.json to trust (e.g. from `vouch log trusted-root`)')
    .option('--staging', "Sigstore's staging instance (its root is not shipped: give it with --trusted-root)")
    .option('--json', 'print what was checked as JSON')
    .argument(
      '<file-or-digest>',
      'the artifact, or its digest as sha256:<64 hex> (taken as a digest only when no such file exists); ' +
        'sha512:<128 hex> is also accepted, for in-toto subjects that carry only sha512',
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 verified; 1 the bundle does not verify (or is malformed) [VERIFICATION_FAILED, BUNDLE_INVALID];
2 bad usage, key or trusted root; 3 a file cannot be read.

Examples:
  vouch verify-bundle --bundle att.sigstore.json --key signer.pub --trusted-root log-root.json app.tar
  vouch verify-bundle --bundle a.sigstore.json --certificate-identity https://github.com/o/r/.github/workflows/rel.yml@refs/heads/main \\
      --certificate-oidc-issuer https://token.actions.githubusercontent.com sha256:a0cf…01bf`,
    )
    .action(
      action(async (fileOrDigest: string, opts: VerifyBundleFlags, cmd: Command): Promise<number> => {
        setup(cmd);
        const policy = await policyFrom(opts);
        if (opts.staging && !opts.trustedRoot) {
          throw new VouchError('USAGE', '--staging: the Sigstore staging trusted root is not shipped with vouch (verification is offline); give it with --trusted-root');
        }
        const bundle = readJsonFile(opts.bundle, LIMITS.bundleBytes, 'BUNDLE_INVALID', 'bundle');
        const trustedRoot = opts.trustedRoot ? readJsonFile(opts.trustedRoot, MAX_TRUSTED_ROOT_BYTES, 'TRUSTED_ROOT_INVALID', 'trusted root') : undefined;
        const artifact = await artifactFrom(fileOrDigest);
        const result = verifyBundle(trustedRoot === undefined ? { bundle, artifact, policy } : { bundle, artifact, policy, trustedRoot });
        if (opts.json) {
          out(JSON.stringify({ verified: true, ...result }, null, 2));
        } else {
          out(`verified: ${opts.bundle}`);
          for (const check of result.checks) out(`  ✓ ${check}`);
        }
        return ExitCode.ok;
      }),
    );
}

async function policyFrom(opts: VerifyBundleFlags): Promise<VerifyPolicy> {
  const identity = opts.certificateIdentity !== undefined || opts.certificateOidcIssuer !== undefined;
  if (opts.key !== undefined && identity) {
    throw new VouchError('USAGE', 'give either --key or --certificate-identity with --certificate-oidc-issuer, not both');
  }
  if (opts.key !== undefined) return { publicKey: await loadPublicKey(opts.key) };
  if (opts.certificateIdentity === undefined || opts.certificateOidcIssuer === undefined) {
    throw new VouchError('USAGE', 'say who must have signed: --key PUB for a key-signed bundle, or --certificate-identity ID and --certificate-oidc-issuer URL for a keyless one');
  }
  return { certificateIdentity: opts.certificateIdentity, certificateIssuer: opts.certificateOidcIssuer };
}

/**
 * FILE_OR_DIGEST as the protocol defines it: a digest when it starts with `sha256:`, has the length of a hex
 * sha256 digest and is not a path on disk; otherwise a file path. (vouch also reads `sha512:<128 hex>` by the
 * same rule.)
 */
export async function artifactFrom(fileOrDigest: string): Promise<ArtifactInput> {
  const m = /^(sha256|sha512):([0-9a-fA-F]+)$/.exec(fileOrDigest);
  if (m && m[2]!.length === (m[1] === 'sha256' ? 64 : 128) && !existsSync(fileOrDigest)) {
    const hex = m[2]!.toLowerCase();
    return m[1] === 'sha256' ? { sha256: hex } : { sha512: hex };
  }
  let size: number;
  try {
    size = statSync(fileOrDigest).size;
  } catch (err) {
    throw new VouchError('IO', `cannot read the artifact ${fileOrDigest}: ${(err as NodeJS.ErrnoException).code ?? 'error'} (to verify by digest, give sha256:<64 hex>)`);
  }
  if (size > MAX_ARTIFACT_IN_MEMORY) return { sha256: await sha256File(fileOrDigest) };
  return readFileSync(fileOrDigest);
}
