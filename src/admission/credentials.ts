// Registry credentials for tag resolution, as the kubelet finds them for a pod: the pod's imagePullSecrets, then its
// ServiceAccount's. The webhook asks a PullSecretSource (the caller's view of the API server) for those secrets by
// name and picks the entry for the image's registry from `.dockerconfigjson` (`{"auths": {registry: …}}`) or the
// legacy `.dockercfg` (`{registry: …}`), each entry `{username, password}` or `{auth: base64("user:pass")}`.

import { dockerConfigEntry, normalizeRegistryKey } from '../common/oci/dockerconfig.ts';
import type { RegistryCredentials } from '../common/oci/registry.ts';

/** A Secret's data as the API server returns it: base64 values by key. */
export interface SecretData {
  type?: string;
  data?: Record<string, string>;
}

/** What the webhook needs from the cluster; errors are the source's to report (the webhook then resolves anonymously). */
export interface PullSecretSource {
  secret(namespace: string, name: string): Promise<SecretData | undefined>;
  serviceAccountPullSecrets(namespace: string, serviceAccount: string): Promise<string[]>;
}

export { normalizeRegistryKey };

/** The credentials a Secret holds for a registry, or undefined. Malformed secrets give undefined, never throw. */
export function credentialsFromSecret(secret: SecretData, registry: string): RegistryCredentials | undefined {
  const decode = (b64: string | undefined): unknown => {
    if (b64 === undefined) return undefined;
    try {
      return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
    } catch {
      return undefined;
    }
  };
  // .dockerconfigjson wins over the legacy .dockercfg, as the kubelet reads them
  for (const config of [decode(secret.data?.['.dockerconfigjson']), decode(secret.data?.['.dockercfg'])]) {
    const entry = dockerConfigEntry(config, registry);
    if (entry && 'credentials' in entry) return entry.credentials;
  }
  return undefined;
}

/** The first credentials for `registry` in the pod's pull secrets, then its ServiceAccount's (the kubelet's order). */
export async function pullCredentials(source: PullSecretSource, namespace: string, podSpec: Record<string, unknown>, registry: string): Promise<RegistryCredentials | undefined> {
  const names: string[] = [];
  const own = podSpec['imagePullSecrets'];
  if (Array.isArray(own)) for (const s of own) if (typeof (s as { name?: unknown }).name === 'string') names.push((s as { name: string }).name);
  const sa = typeof podSpec['serviceAccountName'] === 'string' && podSpec['serviceAccountName'] !== '' ? podSpec['serviceAccountName'] : 'default';
  names.push(...(await source.serviceAccountPullSecrets(namespace, sa)));
  for (const name of [...new Set(names)]) {
    const secret = await source.secret(namespace, name);
    const creds = secret ? credentialsFromSecret(secret, registry) : undefined;
    if (creds) return creds;
  }
  return undefined;
}
