// Where the sidecar logs what it signs or accepts (attestations, evidence, approvals): the embedded log in-process, or
// a Rekor v1 compatible URL with its trusted root. One place so that the sidecar and the approval desk log, verify
// and reference entries alike.
import { createHash, type KeyObject } from 'node:crypto';
import type { SerializedBundle } from '@sigstore/bundle';
import type { Witness } from '@sigstore/sign';
import { logSignedMessage, logSignedPayload, rekorWitness } from '../attest/sign.ts';
import { prepareTrustedRoot, type PreparedTrustedRoot } from '../attest/verify.ts';
import type { LogEntryRef } from '../store/types.ts';
import type { EmbeddedLog } from '../tlog/log.ts';
import { trustedRootFor } from '../tlog/trusted-root.ts';
import { EmbeddedLogWitness } from '../tlog/witness.ts';

export type TlogTarget = { embedded: EmbeddedLog } | { url: string; trustedRoot: unknown };

export class TlogWriter {
  private readonly witness: Witness;
  /** verifies the log's answer before anything is stored */
  private readonly trustedRoot: PreparedTrustedRoot;
  /** the log's base URL, without a trailing slash */
  private readonly logUrl: string;

  constructor(tlog: TlogTarget) {
    if ('embedded' in tlog) {
      const root = trustedRootFor(tlog.embedded);
      this.witness = new EmbeddedLogWitness(tlog.embedded, 'dsse');
      this.trustedRoot = prepareTrustedRoot(root, 'embedded log trusted root');
      this.logUrl = root.tlogs[0]!.baseUrl;
    } else {
      // no retries here: the caller's own retry (the journal, or the reviewer's 503) decides
      this.witness = rekorWitness({ rekorBaseURL: tlog.url, retry: 0, timeout: 10_000 });
      this.trustedRoot = prepareTrustedRoot(tlog.trustedRoot, 'tlog trusted root');
      this.logUrl = tlog.url.replace(/\/+$/, '');
    }
  }

  /** Logs a signed DSSE payload (a second submission of the same one gets the existing entry) and verifies the answer. */
  async log(signed: { payload: Buffer; signature: Buffer }, key: KeyObject): Promise<{ json: SerializedBundle; entry: LogEntryRef }> {
    const { json } = await logSignedPayload({ signed, privateKey: key, witness: this.witness, logTrustedRoot: this.trustedRoot });
    const tle = json.verificationMaterial.tlogEntries[0]!;
    const uuid = createHash('sha256').update(Buffer.from([0])).update(Buffer.from(tle.canonicalizedBody, 'base64')).digest('hex');
    // protojson leaves out a zero logIndex
    const logIndex = Number((tle as { logIndex?: string }).logIndex ?? '0');
    return { json, entry: { logIndex, uuid, url: this.logUrl } };
  }

  /** Logs a message signature (a hashedrekord entry: cosign's image signatures) and verifies the answer. */
  async logMessage(signed: { payload: Buffer; signature: Buffer }, key: KeyObject): Promise<SerializedBundle> {
    return (await logSignedMessage({ signed, privateKey: key, witness: this.witness, logTrustedRoot: this.trustedRoot })).json;
  }
}
