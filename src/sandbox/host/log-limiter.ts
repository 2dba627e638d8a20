/**
 * A per-mim token bucket for console lines, so a chatty mim cannot flood the node's log.
 * Lines over the rate are counted; the count is reported once lines flow again.
 */
export class LogLimiter {
  private tokens: number;
  private last = Date.now();
  private dropped = 0;

  constructor(
    private readonly burst = 200,
    private readonly perSecond = 50,
  ) {
    this.tokens = burst;
  }

  /**
   * Whether a line may pass now; `onResume(n)` is called first when n lines were dropped since
   * the last one that passed.
   */
  take(onResume: (dropped: number) => void): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) {
      this.dropped++;
      return false;
    }
    this.tokens -= 1;
    if (this.dropped > 0) {
      const n = this.dropped;
      this.dropped = 0;
      onResume(n);
    }
    return true;
  }
}
