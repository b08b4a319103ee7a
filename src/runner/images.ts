// Which step images the local runner can honour. There are no containers here, so an image is a promise about the
// tools a step finds: vouch's own task image promises the vouch CLI (we run the local one), an image the user names
// with --host-image promises tools the host has too. Any other image would silently run on the wrong tools, so it is
// refused before the run starts.

export type ImageKind = 'vouch' | 'host';

export interface ImagePolicy {
  /** repository of vouch's task image, e.g. ghcr.io/vouch-dev/vouch (any tag or digest matches) */
  taskImage: string;
  /** globs (`*` any run of characters, `?` one character); a pattern without tag/digest matches every tag/digest */
  hostImages: string[];
}

/** Splits `repo[:tag][@digest]` into the repository and the rest; the port of a registry host is not a tag. */
export function imageRepository(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at === -1 ? image : image.slice(0, at);
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (const ch of glob) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function matchesImagePattern(image: string, pattern: string): boolean {
  const re = globToRegExp(pattern);
  return re.test(image) || re.test(imageRepository(image));
}

/** The kind of a step image, or undefined when the local runner must refuse it. */
export function classifyImage(image: string, policy: ImagePolicy): ImageKind | undefined {
  if (policy.taskImage !== '' && imageRepository(image) === imageRepository(policy.taskImage)) return 'vouch';
  if (policy.hostImages.some((p) => matchesImagePattern(image, p))) return 'host';
  return undefined;
}
