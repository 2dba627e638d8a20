/**
 * WebSocket events leaving a sandbox process for the supervisor. Each request is capped already
 * (events and frame size, abi.ts), but a mim's many concurrent requests could still post faster
 * than the node's main process reads the channel: the bytes handed to the channel and not yet
 * taken are counted per mim, and past SOCKET_BACKLOG_BYTES further events of that mim are dropped
 * (one log line per run of drops) until the channel catches up.
 */
import type { GuestLogLevel } from '../abi.js';
import type { FromSandbox } from '../protocol.js';

/** Event bytes of one mim that may wait in the channel to the supervisor. */
export const SOCKET_BACKLOG_BYTES = 8 * 1024 * 1024;

type Post = (message: FromSandbox, delivered: () => void) => void;
type Log = (mimId: string, level: GuestLogLevel, message: string) => void;

export class SocketOutlet {
  private readonly backlog = new Map<string, number>();
  private readonly dropping = new Set<string>();

  constructor(
    private readonly post: Post,
    private readonly log: Log,
    private readonly maxBytes = SOCKET_BACKLOG_BYTES,
  ) {}

  send(mimId: string, type: string, message: string | undefined): void {
    // UTF-16 units: close enough to the bytes the channel carries for a bound.
    const size = type.length + (message?.length ?? 0) + 64;
    const waiting = this.backlog.get(mimId) ?? 0;
    if (waiting + size > this.maxBytes) {
      if (!this.dropping.has(mimId)) {
        this.dropping.add(mimId);
        this.log(mimId, 'warn', 'WebSocket events dropped: the node is not taking them as fast as they come');
      }
      return;
    }
    this.dropping.delete(mimId);
    this.backlog.set(mimId, waiting + size);
    this.post({ t: 'socket-event', mimId, type, message: message ?? null }, () => {
      const left = (this.backlog.get(mimId) ?? size) - size;
      if (left > 0) this.backlog.set(mimId, left);
      else this.backlog.delete(mimId);
    });
  }
}
