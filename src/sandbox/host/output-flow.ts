/**
 * Back-pressure and cancellation of one request's output, as the supervisor signals them
 * (`pause`, `resume`, `cancel`): the request runner holds the mim's next timer turn while paused,
 * and a res.writeMimeFile stream holds its next read.
 */
/** Bytes of a request's body handed to the IPC channel but not yet written out, past which it waits. */
const BACKLOG_BYTES = 1024 * 1024;

export class OutputFlow {
  private paused = false;
  /** Body bytes posted to the supervisor and not yet taken by the channel. */
  private backlog = 0;
  private cancelled = false;
  private readonly listeners = new Set<() => void>();

  /** True while the supervisor paused the request, or the channel has not taken its output yet. */
  get isPaused(): boolean {
    return !this.cancelled && (this.paused || this.backlog > BACKLOG_BYTES);
  }

  /** Body bytes handed to the channel (a message is on its way). */
  posted(bytes: number): void {
    const before = this.isPaused;
    this.backlog += bytes;
    if (this.isPaused !== before) this.changed();
  }

  /** The channel took a message posted earlier. */
  delivered(bytes: number): void {
    const before = this.isPaused;
    this.backlog -= bytes;
    if (this.isPaused !== before) this.changed();
  }

  get isCancelled(): boolean {
    return this.cancelled;
  }

  pause(): void {
    if (this.cancelled || this.paused) return;
    this.paused = true;
    this.changed();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.isPaused) this.changed();
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.changed();
  }

  /** Calls `listener` on every change; returns the function that removes it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the output may go on (not paused), or the request was cancelled. */
  ready(): Promise<void> {
    if (!this.isPaused) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.onChange(() => {
        if (this.isPaused) return;
        off();
        resolve();
      });
    });
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
