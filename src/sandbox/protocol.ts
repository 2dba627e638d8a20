/**
 * IPC messages between the supervisor and its sandbox processes (child_process with the
 * 'advanced' serialization, so Buffers travel as bytes). Small, typed, one request id each.
 */
import type { ErrorCode } from '../errors/index.js';
import type { MimLogLevel, MimSpec } from './types.js';

export type ResponseHeaders = Record<string, string | string[]>;

/** Supervisor → sandbox. */
export type ToSandbox =
  /** Deploy or replace a mim in this process. */
  | { readonly t: 'load'; readonly spec: MimSpec }
  /** Remove a mim; answered with `unloaded` once its in-flight requests are done. */
  | { readonly t: 'unload'; readonly mimId: string; readonly seq: number }
  /**
   * Close the mim's DataStore handle (the node is about to restore or delete the store); answered
   * with `store-closed`. The supervisor sends no request for that mim until it is reopened by use.
   */
  | { readonly t: 'close-store'; readonly mimId: string; readonly seq: number }
  | {
      readonly t: 'request';
      readonly id: number;
      readonly mimId: string;
      readonly method: string;
      readonly url: string;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: Uint8Array;
      /** What is left of the mim's execution time when the request leaves the supervisor. */
      readonly timeoutMs: number;
    }
  /**
   * Back-pressure on one request's body: the client is behind, so the sandbox stops producing
   * (no more timer turns for the mim, no more file reads) until `resume`.
   */
  | { readonly t: 'pause'; readonly id: number }
  | { readonly t: 'resume'; readonly id: number }
  /** The request is over for the client (it went away, or its response was cut): stop it. */
  | { readonly t: 'cancel'; readonly id: number };

/** Sandbox → supervisor. */
export type FromSandbox =
  | { readonly t: 'ready' }
  /** A whole response in one message (a mim that called `res.end` without writing first). */
  | {
      readonly t: 'respond';
      readonly id: number;
      readonly status: number;
      readonly headers: ResponseHeaders;
      readonly body: Uint8Array | null;
    }
  | { readonly t: 'head'; readonly id: number; readonly status: number; readonly headers: ResponseHeaders }
  | { readonly t: 'chunk'; readonly id: number; readonly data: Uint8Array }
  | { readonly t: 'end'; readonly id: number }
  | { readonly t: 'fail'; readonly id: number; readonly code: ErrorCode; readonly message: string }
  | { readonly t: 'log'; readonly mimId: string; readonly level: MimLogLevel; readonly message: string }
  | { readonly t: 'unloaded'; readonly seq: number }
  | { readonly t: 'store-closed'; readonly seq: number }
  /** `context.dispatchWebSocketEvent`: for the mim's WebSocket clients (checked and capped). */
  | {
      readonly t: 'socket-event';
      readonly mimId: string;
      readonly type: string;
      readonly message: string | null;
    }
  /** Something the node's own log should show (the sandbox has no logger of its own). */
  | {
      readonly t: 'diag';
      readonly level: 'debug' | 'info' | 'warn' | 'error';
      readonly message: string;
      readonly mimId?: string;
    };

/** Bodies larger than this are sent as several `chunk` messages, so none sits whole in the channel. */
export const IPC_CHUNK_BYTES = 1024 * 1024;

/** Exit code of a sandbox process started without `--no-node-snapshot`. */
export const EXIT_MISSING_FLAG = 78;

const FROM_SANDBOX_TYPES = new Set([
  'ready',
  'respond',
  'head',
  'chunk',
  'end',
  'fail',
  'log',
  'unloaded',
  'store-closed',
  'diag',
  'socket-event',
]);

/** Narrows an IPC message from a sandbox process (our own code, so a tag check is enough). */
export function isFromSandbox(message: unknown): message is FromSandbox {
  return (
    typeof message === 'object' &&
    message !== null &&
    FROM_SANDBOX_TYPES.has((message as { t?: unknown }).t as string)
  );
}

const TO_SANDBOX_TYPES = new Set(['load', 'unload', 'close-store', 'request', 'pause', 'resume', 'cancel']);

export function isToSandbox(message: unknown): message is ToSandbox {
  return (
    typeof message === 'object' &&
    message !== null &&
    TO_SANDBOX_TYPES.has((message as { t?: unknown }).t as string)
  );
}
