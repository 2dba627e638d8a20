/**
 * A mim's HTTP connection pools (undici) for `context.http.request`: keep-alive connections are
 * reused across its requests, and each mim has its own, so a mim that floods a slow server does
 * not take the connections other mims need. A call aborted in flight (its request ended) closes
 * its socket. undici sets the connect timeout per pool, so there is one pool per connect timeout
 * asked for (bounded: past MAX_POOLS, the default one).
 */
import { Agent, interceptors, type Dispatcher } from 'undici';
import { DEFAULT_CONNECT_TIMEOUT_MS } from './options.js';

const MAX_POOLS = 8;
/** runtime.md §3: redirects are followed up to 5 times (except in proxy mode). */
const MAX_REDIRECTIONS = 5;
/** Connections of one mim per origin; calls past them wait for a free one. */
const CONNECTIONS_PER_ORIGIN = 64;
/** How long an idle connection is kept (servers usually close theirs after 5 s). */
const KEEP_ALIVE_MS = 4_000;

interface Pool {
  readonly plain: Agent;
  readonly redirecting: Dispatcher;
}

export class OutboundAgents {
  private readonly pools = new Map<number, Pool>();

  dispatcher(connectTimeoutMs: number, followRedirects: boolean): Dispatcher {
    let pool = this.pools.get(connectTimeoutMs);
    if (pool === undefined) {
      if (this.pools.size >= MAX_POOLS && connectTimeoutMs !== DEFAULT_CONNECT_TIMEOUT_MS)
        return this.dispatcher(DEFAULT_CONNECT_TIMEOUT_MS, followRedirects);
      const plain = new Agent({
        connect: { timeout: connectTimeoutMs },
        connections: CONNECTIONS_PER_ORIGIN,
        keepAliveTimeout: KEEP_ALIVE_MS,
      });
      pool = {
        plain,
        redirecting: plain.compose(interceptors.redirect({ maxRedirections: MAX_REDIRECTIONS })),
      };
      this.pools.set(connectTimeoutMs, pool);
    }
    return followRedirects ? pool.redirecting : pool.plain;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((pool) => pool.plain.destroy().catch(() => undefined)));
  }
}
