import type { MimoeError } from '../errors/index.js';

/** What `context.info` shows a mim (runtime.md §3). */
export interface MimInfo {
  readonly serviceType: string;
  readonly apiRoot: string;
  /** The node's port as a string: mims build `http://localhost:${httpPort}/...` from it. */
  readonly httpPort: string;
  readonly nodeId: string;
  readonly accountId: string;
}

/** Everything a sandbox needs to run one deployed mim. */
export interface MimSpec {
  /** `{clientId}-{name}` */
  readonly mimId: string;
  /** Absolute path of the mim's index.js (immutable for this deployment). */
  readonly bundlePath: string;
  /** The deploy-time env map with MCM.* defaults filled in; all values strings. */
  readonly env: Readonly<Record<string, string>>;
  readonly info: MimInfo;
  /** MCM.MAX_EXECUTION_TIME_SEC in ms. */
  readonly timeoutMs: number;
  /** The isolate's heap limit in MiB. */
  readonly memoryMb: number;
  /**
   * The mim's DataStore directory: `store.db` (SQLite) and `files/` (its file area). Opened by the
   * sandbox process that hosts the mim, on first use.
   */
  readonly dataDir: string;
  /** The node's DataStore key when the mim was deployed with MCM.DB_ENCRYPTION_SUPPORT "true". */
  readonly encryptionKey: string | undefined;
  /** Size quotas of the DataStore. */
  readonly quota: DataStoreQuota;
  readonly outbound: OutboundSettings;
}

/** Largest sizes of a mim's DataStore, in bytes: a mim cannot fill the node's disk. */
export interface DataStoreQuota {
  /** The key/value store's SQLite file (`--mim-store-max-mb`). */
  readonly storeBytes: number;
  /** The regular files of the file area, all together (`--mim-files-max-mb`). */
  readonly filesBytes: number;
}

/** `context.http.request` limits, and the mark the mim's calls to its own node carry. */
export interface OutboundSettings {
  /** Largest response body held in memory (buffered mode, error bodies). */
  readonly maxBodyBytes: number;
  /** Largest response body written to an `outputFile`. */
  readonly maxFileBytes: number;
  /** The `x-mimoe-origin` value of this mim (src/auth/mim-origin.ts). */
  readonly origin: string;
  /**
   * The URL hosts (as `URL.hostname` gives them) at which the node itself listens on loopback:
   * only calls to these, on the node's port, carry the mark.
   */
  readonly originHosts: readonly string[];
}

/** One HTTP request as the mim sees it (runtime.md §4). */
export interface MimRequest {
  readonly requestId: string;
  /** Upper-case method. */
  readonly method: string;
  /** Path after the mount, with the query string; `/` for the bare mount. */
  readonly url: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** Where a mim's response goes. Exactly one of: head (write*) end, or fail. */
export interface ResponseSink {
  head(status: number, headers: Record<string, string | string[]>): void;
  /**
   * Returns false when the client is behind (its output is buffered past a high-water mark): the
   * sender should hold further chunks until the `onDrain` callback.
   */
  write(chunk: Buffer): boolean;
  end(): void;
  /** Calls back once, when the output buffered so far was taken by the client. */
  onDrain?(callback: () => void): void;
  /**
   * Calls back once if the response is abandoned before its end: the client went away, or the
   * sink cut it. The sender stops producing; nothing more is written to the sink.
   */
  onAbort?(callback: () => void): void;
  /**
   * The request failed. Before head: answer with this error. After head: the body is cut short
   * and the connection is closed.
   */
  fail(error: MimoeError): void;
}

export type MimLogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface MimLogLine {
  readonly mimId: string;
  readonly level: MimLogLevel;
  readonly message: string;
}

/** `context.dispatchWebSocketEvent` of a mim, for its WebSocket clients (runtime.md §3). */
export interface MimSocketEvent {
  readonly mimId: string;
  readonly type: string;
  /** Absent when the mim gave none. */
  readonly message: string | undefined;
}
