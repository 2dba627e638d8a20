/**
 * `context.dispatchWebSocketEvent` (runtime.md §3). WebSocket fan-out is not wired to the sandbox
 * yet; the contract makes it a no-op whenever events cannot be delivered, never an exception.
 */
export function createDispatchWebSocketEvent(): (options?: unknown) => void {
  return function dispatchWebSocketEvent(): void {
    // No WebSocket clients can be reached from this node yet.
  };
}
