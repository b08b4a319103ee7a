import { VouchError } from '../errors.ts';

// Image references as Docker and the OCI distribution spec spell them: [registry[:port]/]repository[:tag][@sha256:hex].
// A first component with a dot or a colon, or "localhost", is a registry; otherwise the registry is Docker Hub and
// a one-component repository gets "library/".

export interface ImageReference {
  /** host[:port] as written (docker.io for Docker Hub) */
  registry: string;
  repository: string;
  tag?: string;
  /** hex, when the reference pins a digest */
  digest?: string;
}

const REPO_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

export const DOCKER_HUB = 'docker.io';

export function parseImageReference(ref: string): ImageReference {
  if (typeof ref !== 'string' || ref === '' || ref.length > 1024 || /\s/.test(ref)) {
    throw new VouchError('STORE_INPUT_INVALID', `not an image reference: ${JSON.stringify(typeof ref === 'string' ? ref.slice(0, 100) : ref)}`);
  }
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    const m = /^sha256:([0-9a-f]{64})$/.exec(d);
    if (!m) throw new VouchError('STORE_INPUT_INVALID', `image reference ${JSON.stringify(ref)}: the digest must be sha256:<64 lowercase hex>`);
    digest = m[1]!;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new VouchError('STORE_INPUT_INVALID', `image reference ${JSON.stringify(ref)}: invalid tag ${JSON.stringify(tag)}`);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  if (parts.length > 1 && (parts[0]!.includes('.') || parts[0]!.includes(':') || parts[0] === 'localhost')) {
    registry = parts.shift()!;
    if (!HOST.test(registry)) throw new VouchError('STORE_INPUT_INVALID', `image reference ${JSON.stringify(ref)}: invalid registry ${JSON.stringify(registry)}`);
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  if (parts.length === 0 || !parts.every((p) => REPO_COMPONENT.test(p))) {
    throw new VouchError('STORE_INPUT_INVALID', `image reference ${JSON.stringify(ref)}: invalid repository name (lowercase letters, digits and separators . _ __ - between /-separated parts)`);
  }
  const repository = parts.join('/');
  if (repository.length > 255) throw new VouchError('STORE_INPUT_INVALID', `image reference ${JSON.stringify(ref.slice(0, 100))}: repository name too long`);
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * Whether a subject name is syntactically an image reference the OCI store can file attestations under (URLs and
 * names with uppercase letters are not; a relative file path may well be a valid Docker Hub name).
 */
export function isImageReference(name: string): boolean {
  if (typeof name !== 'string' || name.includes('://')) return false;
  try {
    parseImageReference(name);
    return true;
  } catch {
    return false;
  }
}

/** The repository without tag or digest, as a user writes it (the simple signing payload's docker-reference). */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The host that serves the distribution API for a registry name (Docker Hub's API lives elsewhere). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}
