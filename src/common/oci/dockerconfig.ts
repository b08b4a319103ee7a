// Registry credentials from a Docker config (`config.json`, `.dockerconfigjson`; legacy `.dockercfg`), as Docker,
// the kubelet and Tekton's `dockerconfig` workspace use them: `{"auths": {"<registry>": {…}}}` with each entry
// `{username, password}`, `{auth: base64("user:pass")}` or `{registrytoken}` (a bearer token used as is). Keys may be
// written as URLs (`https://index.docker.io/v1/`, `registry.example:5000/v2`); they are matched by host.
// An `identitytoken` (an OAuth2 refresh token) and credential helpers (`credHelpers`, `credsStore`) are not
// supported: the caller gets a clear error rather than a silent anonymous request.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, VouchError, type ErrorCode } from '../errors.ts';
import type { RegistryCredentials } from './registry.ts';

const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** `https://index.docker.io/v1/` → docker.io; `registry.example:5000/v2` → registry.example:5000. */
export function normalizeRegistryKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, '').split('/')[0]!.toLowerCase();
  return DOCKER_HUB.has(host) ? 'docker.io' : host;
}

/** What a config holds for one registry: credentials, nothing, or an entry of a kind we cannot use (with why). */
export type DockerConfigEntry = { credentials: RegistryCredentials } | { unsupported: string } | undefined;

/** The entry for `registry` in a parsed Docker config (`auths`, or the legacy top-level map). Never throws. */
export function dockerConfigEntry(config: unknown, registry: string): DockerConfigEntry {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return undefined;
  const want = normalizeRegistryKey(registry);
  const c = config as { auths?: unknown; credHelpers?: unknown; credsStore?: unknown };
  const auths = typeof c.auths === 'object' && c.auths !== null ? (c.auths as Record<string, unknown>) : 'auths' in c ? {} : (config as Record<string, unknown>);
  let unsupported: string | undefined;
  for (const [key, value] of Object.entries(auths)) {
    if (normalizeRegistryKey(key) !== want || typeof value !== 'object' || value === null) continue;
    const v = value as { username?: unknown; password?: unknown; auth?: unknown; identitytoken?: unknown; registrytoken?: unknown };
    if (typeof v.username === 'string' && v.username !== '' && typeof v.password === 'string') return { credentials: { username: v.username, password: v.password } };
    if (typeof v.auth === 'string' && v.auth !== '') {
      const text = Buffer.from(v.auth, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon > 0) return { credentials: { username: text.slice(0, colon), password: text.slice(colon + 1) } };
      unsupported = `its "auth" is not base64 of user:password`;
      continue;
    }
    if (typeof v.registrytoken === 'string' && v.registrytoken !== '') return { credentials: { token: v.registrytoken } };
    if (typeof v.identitytoken === 'string' && v.identitytoken !== '') unsupported = 'it holds an identitytoken (OAuth2 refresh token), which vouch does not support: use username/password or auth';
  }
  if (unsupported) return { unsupported };
  const helpers = typeof c.credHelpers === 'object' && c.credHelpers !== null ? Object.keys(c.credHelpers).map(normalizeRegistryKey) : [];
  if (helpers.includes(want)) return { unsupported: 'it names a credential helper (credHelpers), which vouch does not run: put the credentials in auths' };
  return undefined;
}

/**
 * The credentials `<dir>/config.json` holds for `registry` (Tekton's `dockerconfig` workspace, `$DOCKER_CONFIG`):
 * undefined when the file or its entry is missing (anonymous access); a clear error when the file is unreadable or
 * malformed or the entry unusable. The error never quotes the file: it holds secrets.
 */
export async function dockerConfigCredentials(dir: string, registry: string, code: ErrorCode = 'CONFIG_INVALID'): Promise<RegistryCredentials | undefined> {
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VouchError(code, `cannot read the registry credentials ${path}: ${errorMessage(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new VouchError(code, `the registry credentials ${path} are not a JSON object (a Docker config.json: {"auths": {...}})`);
  const entry = dockerConfigEntry(parsed, registry);
  if (entry && 'unsupported' in entry) throw new VouchError(code, `the registry credentials ${path} for ${registry} cannot be used: ${entry.unsupported}`);
  return entry?.credentials;
}
