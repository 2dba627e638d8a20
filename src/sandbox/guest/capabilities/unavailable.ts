/** Capabilities this node does not offer yet fail the same clear way. */
export function notAvailable(what: string): Error {
  return new Error(`${what} is not available on this node yet`);
}
