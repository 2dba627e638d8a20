import { MimoeError } from '../errors/index.js';

export interface MountMatch {
  readonly mimId: string;
  readonly mount: string;
  /** The path after the mount (`/` for the bare mount), without the query. */
  readonly rest: string;
}

interface Mount {
  readonly mimId: string;
  /** The client that owns the mim: nesting across clients is refused. */
  readonly owner: string;
}

/** True when `inner` is `outer` or lies below it on whole path segments. */
function within(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer + '/');
}

/**
 * Mount paths → mims, with longest-prefix matching on whole path segments (runtime.md §6).
 *
 * A path may be held by one mim only. A client may nest its own mims (`/app` and `/app/admin`);
 * nesting under another client's mount is refused, or an alias (`/api/...`) could take over part
 * of another client's mim and receive its callers' credentials.
 */
export class MountTable {
  private readonly byPath = new Map<string, Mount>();
  private readonly byMim = new Map<string, string[]>();

  /** The first path that would conflict, with the mim holding it, or undefined. */
  conflict(
    mimId: string,
    owner: string,
    paths: readonly string[],
  ): { path: string; mim: string } | undefined {
    for (const p of paths) {
      for (const [held, mount] of this.byPath) {
        if (mount.mimId === mimId) continue;
        if (held === p || (mount.owner !== owner && (within(p, held) || within(held, p)))) {
          return { path: p, mim: mount.mimId };
        }
      }
    }
    return undefined;
  }

  /** Claims every path for the mim, or none. */
  claim(mimId: string, owner: string, paths: readonly string[]): void {
    const clash = this.conflict(mimId, owner, paths);
    if (clash !== undefined) {
      throw new MimoeError(
        'ERR_MOUNT_CONFLICT',
        `mount path ${clash.path} overlaps the mount of another mim`,
        {
          details: { path: clash.path },
        },
      );
    }
    this.release(mimId);
    for (const p of paths) this.byPath.set(p, { mimId, owner });
    this.byMim.set(mimId, [...paths]);
  }

  release(mimId: string): void {
    for (const p of this.byMim.get(mimId) ?? []) this.byPath.delete(p);
    this.byMim.delete(mimId);
  }

  paths(mimId: string): readonly string[] {
    return this.byMim.get(mimId) ?? [];
  }

  resolve(pathname: string): MountMatch | undefined {
    let candidate = pathname.endsWith('/') && pathname.length > 1 ? pathname.slice(0, -1) : pathname;
    for (;;) {
      const mount = this.byPath.get(candidate);
      if (mount !== undefined) {
        const rest = pathname.slice(candidate.length);
        return { mimId: mount.mimId, mount: candidate, rest: rest === '' ? '/' : rest };
      }
      const cut = candidate.lastIndexOf('/');
      if (cut <= 0) return undefined;
      candidate = candidate.slice(0, cut);
    }
  }
}
