// Commit signatures and agent trailers of the commits a change brings. SSH signatures are checked by git itself
// (gpg.format=ssh, gpg.ssh.allowedSignersFile written from the base revision's policy); git reports the status
// (%G?), the signer principal (%GS) and the key fingerprint (%GF). Humans and agents are told apart by the `role` of
// the allowed-signers entry whose principal signed: an agent key is listed with role agent, so a commit signed by it
// is signed, but not by a human. OpenPGP signatures are checked against a keyring made only of the policy's
// gpg-signers (fully trusted, so git reports G); every fingerprint in a signer's key block maps to that signer.

import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VouchError } from '../../common/errors.ts';
import type { AllowedSigner, ClonePolicy, GpgSigner, SignerRole } from '../../policy/index.ts';
import { firstLines, git } from '../git.ts';

export type SignatureStatus = 'G' | 'B' | 'U' | 'X' | 'Y' | 'R' | 'E' | 'N';

const MEANING: Record<SignatureStatus, string> = {
  G: 'good signature by an allowed signer',
  B: 'bad signature',
  U: 'valid signature by a key that is not an allowed signer',
  X: 'good signature, expired',
  Y: 'good signature by an expired key',
  R: 'good signature by a revoked key',
  E: 'signature cannot be checked (key not in the allowed signers)',
  N: 'no signature',
};

export interface CommitSignature {
  commit: string;
  author: string;
  subject: string;
  signature: {
    status: SignatureStatus;
    meaning: string;
    /** ssh, gpg, or none */
    kind: 'ssh' | 'gpg' | 'none';
    /** principal (SSH) or user id (GPG) git reports; only trustworthy when status is G */
    signer: string;
    fingerprint: string;
    /** role of the allowed signer when the signature is good (G), else null */
    role: SignerRole | null;
  };
  /** values of the agent trailer (e.g. Agent-Run: <id>) */
  agentRuns: string[];
}

/** The allowed_signers file git reads: `principal namespaces="git" keytype key` per line. */
export function allowedSignersText(signers: readonly AllowedSigner[]): string {
  return signers.map((s) => `${s.principal} namespaces="git" ${s.key.split(' ').slice(0, 2).join(' ')}\n`).join('');
}

function gpg(home: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = execFile('gpg', ['--batch', '--no-tty', '--quiet', ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', GNUPGHOME: home, LC_ALL: 'C' }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new VouchError('STAGE_TOOL_FAILED', `gpg ${args[0] ?? ''} failed: ${firstLines(stderr) || err.message}`));
      else resolvePromise(stdout);
    });
    child.stdin?.end(input ?? '');
  });
}

/** A keyring of the policy's GPG signers, ultimately trusted; fingerprint (primary and sub keys) -> signer. */
async function gpgKeyring(home: string, signers: readonly GpgSigner[]): Promise<Map<string, GpgSigner>> {
  await mkdir(home, { mode: 0o700 });
  const byFingerprint = new Map<string, GpgSigner>();
  for (const [i, signer] of signers.entries()) {
    let listing: string;
    try {
      listing = await gpg(home, ['--with-colons', '--import-options', 'show-only', '--import'], signer['public-key']);
    } catch (err) {
      throw new VouchError('STAGE_INPUT_INVALID', `policy clone.gpg-signers[${String(i)}] (${signer.principal}): the public key cannot be read: ${(err as Error).message}`);
    }
    const fingerprints = listing.split('\n').filter((l) => l.startsWith('fpr:')).map((l) => l.split(':')[9] ?? '').filter((f) => f !== '');
    const primaries = listing.split('\n').filter((l) => l.startsWith('pub:')).length;
    if (primaries !== 1 || fingerprints.length === 0) {
      throw new VouchError('STAGE_INPUT_INVALID', `policy clone.gpg-signers[${String(i)}] (${signer.principal}): expected exactly one public key, found ${String(primaries)}`);
    }
    await gpg(home, ['--import'], signer['public-key']);
    for (const f of fingerprints) byFingerprint.set(f.toUpperCase(), signer);
    await gpg(home, ['--import-ownertrust'], `${fingerprints[0] ?? ''}:6:\n`);
  }
  return byFingerprint;
}

/** Signature facts for `range` (e.g. ["base..head"] or ["-1", head]) in `repo`, newest first. */
export async function commitSignatures(repo: string, range: readonly string[], policy: ClonePolicy): Promise<CommitSignature[]> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-signers-'));
  try {
    const signersFile = join(dir, 'allowed_signers');
    await writeFile(signersFile, allowedSignersText(policy['allowed-signers']), { mode: 0o600 });
    // an empty keyring unless the policy names GPG signers: never the machine's keyring
    const gnupgHome = join(dir, 'gnupg');
    const gpgSigners = policy['gpg-signers'].length ? await gpgKeyring(gnupgHome, policy['gpg-signers']) : new Map<string, GpgSigner>();
    const trailer = policy['agent-trailer'];
    const format = `%H%x1f%G?%x1f%GS%x1f%GF%x1f%GP%x1f%an <%ae>%x1f%s%x1f%(trailers:key=${trailer},valueonly,separator=%x1d)%x1f%x1e`;
    const out = await git(['log', '--no-color', `--format=${format}`, ...range, '--'], {
      cwd: repo,
      config: { 'gpg.ssh.allowedSignersFile': signersFile },
      env: { GNUPGHOME: gnupgHome },
    });
    const roles = new Map(policy['allowed-signers'].map((s) => [s.principal, s.role]));
    const commits: CommitSignature[] = [];
    for (const record of out.split('\x1e')) {
      const f = record.replace(/^\n/, '').split('\x1f');
      if (f.length < 8) continue;
      const [commit = '', status = 'N', signer = '', fingerprint = '', primary = '', author = '', subject = '', trailers = ''] = f;
      const s = (status in MEANING ? status : 'E') as SignatureStatus;
      const kind = s === 'N' ? 'none' : fingerprint.startsWith('SHA256:') ? 'ssh' : 'gpg';
      const gpgSigner = kind === 'gpg' ? (gpgSigners.get(primary.toUpperCase()) ?? gpgSigners.get(fingerprint.toUpperCase())) : undefined;
      let role: SignerRole | null = null;
      if (s === 'G' && kind === 'ssh') role = roles.get(signer) ?? null;
      if (s === 'G' && gpgSigner) role = gpgSigner.role;
      commits.push({
        commit,
        author,
        subject,
        signature: { status: s, meaning: MEANING[s], kind, signer: gpgSigner ? gpgSigner.principal : signer, fingerprint, role },
        agentRuns: trailers.split('\x1d').map((t) => t.trim()).filter((t) => t !== ''),
      });
    }
    return commits;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
