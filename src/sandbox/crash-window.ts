/** Counts crashes in a sliding time window: is this the `limit`-th one within `windowMs`? */
export class CrashWindow {
  private times: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Records a crash; true when the limit is reached. */
  record(now = Date.now()): boolean {
    this.times = this.times.filter((t) => now - t < this.windowMs);
    this.times.push(now);
    return this.times.length >= this.limit;
  }
}
