// src/store: attestation storage behind one interface (types.ts: AttestationStore, AttestationRecord, StoreLocation).
//
// Backends
// - LocalStore (local.ts, the default): <dir>/<sha256 hex>/<predicate-slug>-<run uid>.sigstore.json holds the Sigstore
//   bundle exactly as signed (`vouch verify-bundle` reads it); a .<hash of the bundle>.meta.json next to it holds
//   subject name, run uid, predicateType, log entry. Files are created atomically and never replaced (first writer wins).
// - OciStore (oci.ts): cosign's layout in any OCI distribution registry: `sha256-<hex>.att` (DSSE envelope layers,
//   annotations dev.cosignproject.cosign/signature "", dev.sigstore.cosign/bundle, predicateType, plus dev.vouch/*)
//   and `sha256-<hex>.sig` (simple signing layers; build the payload with simpleSigningPayload(), sign those bytes,
//   then putSignature()). Needs the image repository: record.subject.name (or list(hex, name)), or a fixed
//   `repository` option. A location is `registry/repo@sha256:<manifest digest>` (it changes as the manifest grows).
//   resolveImageDigest(ref) resolves a tag to its digest (HEAD, the Accept headers of every manifest type).
//   Subjects that are not images (files, URLs: isImageReference() is false) are refused with STORE_INPUT_INVALID:
//   route them to the local or tekton store only.
// - TektonStore (tekton.ts): annotations on the TaskRun/PipelineRun (record.run required): chains.tekton.dev/signed,
//   chains.tekton.dev/transparency, Chains' payload/signature for provenance, and vouch.dev/attestation-<hash>.
//   KUBE_* errors from src/kube pass through (KUBE_UNAVAILABLE means retry).
//
// Errors: STORE_INPUT_INVALID (refused before anything is written), STORE_UNAVAILABLE (retry later: nothing
// half-written is visible), STORE_AUTH_FAILED, STORE_REJECTED, STORE_NOT_FOUND, STORE_CORRUPT.
import type { VouchConfig } from '../common/config.ts';
import { VouchError } from '../common/errors.ts';
import { KubeClient } from '../kube/client.ts';
import { LocalStore } from './local.ts';
import { OciStore } from './oci.ts';
import { TektonStore } from './tekton.ts';
import type { AttestationRecord, AttestationStore, StoreKind, StoreLocation } from './types.ts';

export type * from './types.ts';
export { LocalStore } from './local.ts';
export { OciStore, type OciStoreOptions } from './oci.ts';
export { TektonStore, transparencyUrl, ChainsAnnotations } from './tekton.ts';
export { simpleSigningPayload, cosignTag, rekorBundleOf } from './oci/cosign.ts';
export { resolveImageDigest, RegistryClient } from '../common/oci/registry.ts';
export { isImageReference, parseImageReference, repositoryName, type ImageReference } from '../common/oci/reference.ts';

/**
 * Writes every record to several backends in order (idempotently each, so a retry after a partial failure completes
 * the rest without duplicates); reads from the first. Its kind and location are the first backend's.
 */
export class FanOutStore implements AttestationStore {
  readonly stores: readonly AttestationStore[];

  constructor(stores: AttestationStore[]) {
    if (stores.length === 0) throw new VouchError('CONFIG_INVALID', 'at least one attestation store backend is needed');
    this.stores = stores;
  }

  get kind(): StoreKind {
    return this.stores[0]!.kind;
  }

  async put(record: AttestationRecord): Promise<StoreLocation> {
    let first: StoreLocation | undefined;
    for (const store of this.stores) {
      const loc = await store.put(record);
      first ??= loc;
    }
    return first!;
  }

  async list(subjectSha256: string, subjectName?: string): Promise<AttestationRecord[]> {
    return this.stores[0]!.list(subjectSha256, subjectName);
  }
}

/**
 * The store the config asks for (`store.backends`, comma-separated: local, oci, tekton); one backend is returned as
 * is, several as a FanOutStore. `localDir` is the local store's directory (the sidecar passes `sidecar.store`).
 */
export function createStore(config: Pick<VouchConfig, 'store' | 'kube'>, options: { localDir: string; env?: NodeJS.ProcessEnv; kube?: KubeClient }): AttestationStore {
  const env = options.env ?? process.env;
  const names = config.store.backends.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const seen = new Set<string>();
  const stores: AttestationStore[] = [];
  for (const name of names) {
    if (seen.has(name)) throw new VouchError('CONFIG_INVALID', `store.backends names ${name} twice`);
    seen.add(name);
    if (name === 'local') {
      stores.push(new LocalStore(options.localDir));
    } else if (name === 'oci') {
      const username = env[config.store.ociUsernameEnv];
      const password = env[config.store.ociPasswordEnv];
      stores.push(
        new OciStore({
          ...(config.store.ociRepository ? { repository: config.store.ociRepository } : {}),
          ...(username ? { credentials: { username, password: password ?? '' } } : {}),
          timeoutMs: config.store.ociTimeoutSeconds * 1000,
        }),
      );
    } else if (name === 'tekton') {
      const kube =
        options.kube ??
        KubeClient.load({
          ...(config.kube.kubeconfig ? { kubeconfig: config.kube.kubeconfig } : {}),
          ...(config.kube.context ? { context: config.kube.context } : {}),
          timeoutMs: config.kube.timeoutSeconds * 1000,
        });
      stores.push(new TektonStore(kube, { namespace: config.kube.namespace }));
    } else {
      throw new VouchError('CONFIG_INVALID', `store.backends: unknown backend ${JSON.stringify(name)} (known: local, oci, tekton)`);
    }
  }
  return stores.length === 1 ? stores[0]! : new FanOutStore(stores);
}
