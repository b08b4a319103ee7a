import { envelopeToJSON, type TransparencyLogEntry } from '@sigstore/bundle';
import type { SignatureBundle, VerificationMaterial, Witness } from '@sigstore/sign';
import { VouchError } from '../common/errors.ts';
import { proposeDsse, proposeHashedrekord, proposeIntoto } from './entries.ts';
import type { LogEntry } from './types.ts';

// A @sigstore/sign Witness that logs through a function instead of HTTP: pass EmbeddedLog#submit for the in-process
// log, or RekorClient#createEntry for a remote one. It sends the same proposed entries as RekorWitness and turns the
// answer into the bundle's TransparencyLogEntry exactly as RekorWitness does (so bundles are identical either way).
//   new DSSEBundleBuilder({ signer, witnesses: [new LogWitness((p) => log.submit(p), 'dsse')] })

export type SubmitFn = (proposedEntry: unknown) => Promise<{ entry: LogEntry }>;

export class LogWitness implements Witness {
  private readonly submit: SubmitFn;
  private readonly entryType: 'dsse' | 'intoto';

  constructor(submit: SubmitFn, entryType: 'dsse' | 'intoto' = 'dsse') {
    this.submit = submit;
    this.entryType = entryType;
  }

  async testify(content: SignatureBundle, publicKey: string): Promise<VerificationMaterial> {
    if (content.$case === 'messageSignature') {
      // a signature over a digest (cosign image signatures): hashedrekord, as RekorWitness sends it
      const { messageDigest, signature } = content.messageSignature;
      if (messageDigest === undefined) throw new VouchError('TLOG_ENTRY_INVALID', 'a message signature needs its digest to be logged');
      const { entry } = await this.submit(proposeHashedrekord(signature, publicKey, Buffer.from(messageDigest.digest).toString('hex')));
      return { tlogEntries: [toTransparencyLogEntry(entry)] };
    }
    const env = content.dsseEnvelope;
    const proposed =
      this.entryType === 'dsse'
        ? proposeDsse(JSON.stringify(envelopeToJSON(env)), publicKey)
        : proposeIntoto(
            { payloadType: env.payloadType, payload: env.payload.toString('base64'), signatures: env.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig.toString('base64') })) },
            publicKey,
          );
    const { entry } = await this.submit(proposed);
    return { tlogEntries: [toTransparencyLogEntry(entry)] };
  }
}

/** A log entry as a Sigstore bundle carries it (protobuf-specs TransparencyLogEntry). */
export function toTransparencyLogEntry(entry: LogEntry): TransparencyLogEntry {
  const body = Buffer.from(entry.body, 'base64');
  const parsed = JSON.parse(body.toString('utf8')) as { kind: string; apiVersion: string };
  const proof = entry.verification.inclusionProof;
  return {
    logIndex: entry.logIndex.toString(),
    logId: { keyId: Buffer.from(entry.logID, 'hex') },
    kindVersion: { kind: parsed.kind, version: parsed.apiVersion },
    integratedTime: entry.integratedTime.toString(),
    inclusionPromise: { signedEntryTimestamp: Buffer.from(entry.verification.signedEntryTimestamp, 'base64') },
    inclusionProof: {
      logIndex: proof.logIndex.toString(),
      treeSize: proof.treeSize.toString(),
      rootHash: Buffer.from(proof.rootHash, 'hex'),
      hashes: proof.hashes.map((h) => Buffer.from(h, 'hex')),
      checkpoint: { envelope: proof.checkpoint },
    },
    canonicalizedBody: body,
  };
}

/** A LogWitness over an in-process log (EmbeddedLog): `new EmbeddedLogWitness(log, 'dsse')`. */
export class EmbeddedLogWitness extends LogWitness {
  constructor(log: { submit: SubmitFn }, entryType: 'dsse' | 'intoto' = 'dsse') {
    super((p) => log.submit(p), entryType);
  }
}
