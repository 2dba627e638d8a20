import { MimoeError } from '../errors/index.js';

export interface MountMatch {
  readonly mimId: string;
  readonly mount: string;
  /** The path after the mount (`/` for the bare mount), without the query. */
  readonly rest: string;
}

/** Mount paths → mims, with longest-prefix matching on whole path segments (runtime.md §6). */
export class MountTable {
  private readonly byPath = new Map<string, string>();
  private readonly byMim = new Map<string, string[]>();

  /** Claims every path for the mim, or none: a path held by another mim is a conflict. */
  claim(mimId: string, paths: readonly string[]): void {
    for (const p of paths) {
      const owner = this.byPath.get(p);
      if (owner !== undefined && owner !== mimId) {
        throw new MimoeError('ERR_MOUNT_CONFLICT', `mount path ${p} is already used by mim ${owner}`, {
          details: { path: p, mim: owner },
        });
      }
    }
    this.release(mimId);
    for (const p of paths) this.byPath.set(p, mimId);
    this.byMim.set(mimId, [...paths]);
  }

  /** The paths a claim would conflict on, without claiming. */
  conflicts(mimId: string, paths: readonly string[]): string | undefined {
    for (const p of paths) {
      const owner = this.byPath.get(p);
      if (owner !== undefined && owner !== mimId) return p;
    }
    return undefined;
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
      const mimId = this.byPath.get(candidate);
      if (mimId !== undefined) {
        const rest = pathname.slice(candidate.length);
        return { mimId, mount: candidate, rest: rest === '' ? '/' : rest };
      }
      const cut = candidate.lastIndexOf('/');
      if (cut <= 0) return undefined;
      candidate = candidate.slice(0, cut);
    }
  }
}
