/**
 * `context.edge` (runtime.md §3): mimik's cloud cluster services. Decision: on a node without
 * them, call `error({ message })` (later, like any callback API), never throw, never hang.
 * A plain object, so helpers can `Object.assign` their own members onto it.
 */

interface CallbackOptions {
  error?: unknown;
}

export function createEdge(defer: (callback: () => void) => void): Record<string, unknown> {
  const unavailable = (name: string) =>
    function (options?: CallbackOptions): void {
      const onError = options !== null && typeof options === 'object' ? options.error : undefined;
      if (typeof onError !== 'function') return;
      const message = `context.edge.${name} is not available: this node has no mimik cluster service`;
      defer(() => {
        (onError as (err: { message: string }) => void)({ message });
      });
    };
  return {
    decryptEncryptedNodesJson: unavailable('decryptEncryptedNodesJson'),
    requestBep: unavailable('requestBep'),
  };
}
