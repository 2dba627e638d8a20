/**
 * The resources an edge HMAC code may be minted for. Only image tarballs for now; the code is bound
 * to the canonical resource string, so two spellings of one image id make the same code.
 */

const TARBALL_PREFIX = '/mcm/v1/images/';
const TARBALL_SUFFIX = '/tarball';
/** Image ids are `{clientId}-{name}`: at most 128 + 1 + 128 characters; anything longer is not one. */
const MAX_IMAGE_ID_LENGTH = 257;

export type HmacResource = { readonly kind: 'image-tarball'; readonly imageId: string };

/** The canonical resource string of an image's tarball (the id percent-encoded as one path segment). */
export function tarballResource(imageId: string): string {
  return `${TARBALL_PREFIX}${encodeURIComponent(imageId)}${TARBALL_SUFFIX}`;
}

/**
 * Reads a resource string; undefined when it is not one a code may be minted for. The image id is
 * percent-decoded (give it as it appears in the URL: an id holding `%`, `?` or `#` must be
 * encoded; a plain id reads the same either way).
 */
export function parseResource(resource: string): HmacResource | undefined {
  if (!resource.startsWith(TARBALL_PREFIX) || !resource.endsWith(TARBALL_SUFFIX)) return undefined;
  const segment = resource.slice(TARBALL_PREFIX.length, resource.length - TARBALL_SUFFIX.length);
  // A raw `?` or `#` would start a query or fragment: not part of the path, so not a resource.
  if (/[?#]/.test(segment)) return undefined;
  let imageId: string;
  try {
    imageId = decodeURIComponent(segment);
  } catch {
    return undefined;
  }
  if (imageId.length === 0 || imageId.length > MAX_IMAGE_ID_LENGTH) return undefined;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/[\u0000-\u001f\u007f]/.test(imageId)) return undefined;
  return { kind: 'image-tarball', imageId };
}
