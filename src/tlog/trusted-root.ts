import { publicKeyDer } from '../attest/keys.ts';
import { checkpointNamesOf, TRUSTED_ROOT_MEDIA_TYPE } from '../attest/trust.ts';
import { VouchError } from '../common/errors.ts';
import type { LogIdentity } from './log.ts';

// A Sigstore trusted root (https://github.com/sigstore/protobuf-specs, TrustedRoot, media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1) that names one log: this one. Stock @sigstore/verify
// verifies our bundles with it (SET and checkpoint under the log key). No CAs, CT logs or TSAs: keys sign, not
// certificates. checkpointKeyId is not set (shared/notes/sigstore.md: not for a v1 log).
//
// The naming rule: @sigstore/verify accepts a checkpoint only when its signer name is a substring of the tlog's
// baseUrl; vouch's verifier (attest/trust.ts checkpointNamesOf) is stricter and wants the name to be the URL's host or
// host:port exactly, so that is what we require here (e.g. name "localhost", baseUrl "http://localhost:3000").
// Without a URL, the baseUrl is "http://<name>".


export interface TrustedRootJSON {
  mediaType: string;
  tlogs: {
    baseUrl: string;
    hashAlgorithm: 'SHA2_256';
    publicKey: { rawBytes: string; keyDetails: 'PKIX_ECDSA_P256_SHA_256'; validFor: { start: string } };
    logId: { keyId: string };
  }[];
  certificateAuthorities: never[];
  ctlogs: never[];
  timestampAuthorities: never[];
}

export function trustedRootFor(log: Pick<LogIdentity, 'publicKey' | 'logId' | 'name' | 'createdAt'>, opts: { url?: string } = {}): TrustedRootJSON {
  const baseUrl = (opts.url ?? `http://${log.name}`).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new VouchError('USAGE', `--url ${JSON.stringify(baseUrl)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new VouchError('USAGE', `--url must be http or https, not ${parsed.protocol}`);
  if (!checkpointNamesOf(baseUrl).includes(log.name)) {
    throw new VouchError(
      'USAGE',
      `the log signs its checkpoints as ${JSON.stringify(log.name)}, and verifiers accept a checkpoint only when that name is the host (or host:port) of the log's URL; ` +
        `give a URL containing it (e.g. http://${log.name}:PORT), or create the log with --name set to the host clients use`,
    );
  }
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: [
      {
        baseUrl,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: publicKeyDer(log.publicKey).toString('base64'),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start: log.createdAt.toISOString().replace(/\.000Z$/, 'Z') },
        },
        logId: { keyId: Buffer.from(log.logId, 'hex').toString('base64') },
      },
    ],
    certificateAuthorities: [],
    ctlogs: [],
    timestampAuthorities: [],
  };
}
