import type { Command } from 'commander';
import { writeKeyPair } from '../attest/keys.ts';
import { action, out, setup } from './context.ts';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage signing keys (ECDSA P-256)');
  keys
    .command('generate')
    .description(
      'write PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM); the key is encrypted when the ' +
        'environment variable named by signing.passwordEnv (default VOUCH_KEY_PASSWORD) is set',
    )
    .requiredOption('--out <prefix>', 'path prefix of the key files')
    .action(
      action(async (opts: { out: string }, cmd: Command): Promise<undefined> => {
        const config = setup(cmd);
        const password = process.env[config.signing.passwordEnv] || undefined;
        const written = await writeKeyPair(opts.out, password);
        out(`wrote ${written.keyPath} (${password ? 'encrypted' : 'NOT encrypted: set ' + config.signing.passwordEnv + ' to encrypt'}) and ${written.pubPath}`);
        out(`key id (sha256 of the public key): ${written.keyId}`);
      }),
    );
}
