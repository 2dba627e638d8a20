import { MimoeError } from '../errors/index.js';

export const MAX_IMAGE_NAME_LENGTH = 128;

/** Docker's tag grammar; `mimoe pack` holds the tags it writes to it. */
const DOCKER_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Whitespace (any Unicode space) or a control character (C0, DEL, C1). */
function hasWhitespaceOrControl(text: string): boolean {
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || /\s/u.test(char)) return true;
  }
  return false;
}

/**
 * Splits `name:tag` at the last `:` after the last `/`, so a registry port stays in the name:
 * `localhost:5000/a/b:1` → `localhost:5000/a/b` + `1`. No tag → tag undefined.
 */
export function parseRepoTag(repoTag: string): { name: string; tag: string | undefined } {
  const colon = repoTag.lastIndexOf(':');
  if (colon === -1 || colon < repoTag.lastIndexOf('/')) return { name: repoTag, tag: undefined };
  return { name: repoTag.slice(0, colon), tag: repoTag.slice(colon + 1) };
}

/** Why `name` is not a usable image name, or undefined when it is. */
export function imageNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > MAX_IMAGE_NAME_LENGTH) return `it is longer than ${MAX_IMAGE_NAME_LENGTH} characters`;
  if (hasWhitespaceOrControl(name)) return 'it contains whitespace or control characters';
  // The name becomes part of ids and paths; `..` has no business in either.
  if (name.includes('..')) return 'it contains ".."';
  return undefined;
}

/** Why `tag` is not a tag `mimoe pack` will write, or undefined when it is. */
export function imageTagProblem(tag: string): string | undefined {
  if (!DOCKER_TAG.test(tag)) {
    return 'a tag is 1-128 letters, digits, "_", "." or "-", and does not start with "." or "-"';
  }
  return undefined;
}

/** Throws ERR_IMAGE_INVALID unless `name` is a usable image name. */
export function assertImageName(name: string): void {
  const problem = imageNameProblem(name);
  if (problem !== undefined) {
    throw new MimoeError('ERR_IMAGE_INVALID', `image name ${JSON.stringify(name)} is invalid: ${problem}`);
  }
}
