/**
 * The guest's single way out: events to the host through the per-request `emit` callback.
 * The callback arrives with the `start` entry call; events from the bundle's own evaluation
 * (console output at load time) wait for it.
 */
import type { GuestEmit, GuestEvent } from '../abi.js';

/** Events kept before `emit` is known (the console already caps lines per request). */
const MAX_EARLY_EVENTS = 2000;

export class Outbox {
  private emit: GuestEmit | undefined;
  private early: GuestEvent[] = [];
  /** True while the host is inside an entry call: the guest reports its next wake-up on return. */
  inEntry = false;

  attach(emit: GuestEmit): void {
    this.emit = emit;
    const early = this.early;
    this.early = [];
    for (const event of early) emit(...event);
  }

  send(...event: GuestEvent): void {
    if (this.emit !== undefined) this.emit(...event);
    else if (this.early.length < MAX_EARLY_EVENTS) this.early.push(event);
  }
}
