// Commit signatures and agent trailers of the commits a change brings. SSH signatures are checked by git itself
// (gpg.format=ssh, gpg.ssh.allowedSignersFile written from the base revision's policy); git reports the status
// (%G?), the signer principal (%GS) and the key fingerprint (%GF). Humans and agents are told apart by the `role` of
// the allowed-signers entry whose principal signed: an agent key is listed with role agent, so a commit signed by it
// is signed, but not by a human.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AllowedSigner, ClonePolicy, SignerRole } from '../../policy/index.ts';
import { git } from '../git.ts';

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

/** Signature facts for `range` (e.g. ["base..head"] or ["-1", head]) in `repo`, newest first. */
export async function commitSignatures(repo: string, range: readonly string[], policy: ClonePolicy): Promise<CommitSignature[]> {
  const dir = await mkdtemp(join(tmpdir(), 'vouch-signers-'));
  try {
    const signersFile = join(dir, 'allowed_signers');
    await writeFile(signersFile, allowedSignersText(policy['allowed-signers']), { mode: 0o600 });
    const trailer = policy['agent-trailer'];
    const format = `%H%x1f%G?%x1f%GS%x1f%GF%x1f%an <%ae>%x1f%s%x1f%(trailers:key=${trailer},valueonly,separator=%x1d)%x1f%x1e`;
    const out = await git(['log', '--no-color', `--format=${format}`, ...range, '--'], {
      cwd: repo,
      config: { 'gpg.ssh.allowedSignersFile': signersFile },
      // an empty keyring: GPG signatures are reported, never trusted from the machine's keyring
      env: { GNUPGHOME: dir },
    });
    const roles = new Map(policy['allowed-signers'].map((s) => [s.principal, s.role]));
    const commits: CommitSignature[] = [];
    for (const record of out.split('\x1e')) {
      const f = record.replace(/^\n/, '').split('\x1f');
      if (f.length < 7) continue;
      const [commit = '', status = 'N', signer = '', fingerprint = '', author = '', subject = '', trailers = ''] = f;
      const s = (status in MEANING ? status : 'E') as SignatureStatus;
      const kind = s === 'N' ? 'none' : fingerprint.startsWith('SHA256:') ? 'ssh' : 'gpg';
      commits.push({
        commit,
        author,
        subject,
        signature: { status: s, meaning: MEANING[s], kind, signer, fingerprint, role: s === 'G' && kind === 'ssh' ? (roles.get(signer) ?? null) : null },
        agentRuns: trailers.split('\x1d').map((t) => t.trim()).filter((t) => t !== ''),
      });
    }
    return commits;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
