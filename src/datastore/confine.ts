import fs from 'node:fs';
import path from 'node:path';

/** True when `child` is `parent` or lies under it (both absolute and normalised). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Proves that `target` (absolute, already lexically inside `root`) stays inside `root` once
 * symlinks are followed: the deepest part of it that exists (the target itself, or an ancestor) is
 * resolved with realpath and must land inside realpath(root). Parts that do not exist yet will be
 * created as plain directories and files, so they cannot lead anywhere else. A symlink whose target
 * does not exist is refused: writing through it would create a file wherever it points.
 * Returns undefined when confined, or the reason it is not.
 */
export function symlinkEscape(root: string, target: string): string | undefined {
  const rootReal = fs.realpathSync(root);
  let probe = target;
  for (;;) {
    let exists = true;
    try {
      fs.lstatSync(probe);
    } catch (err) {
      if (
        (err as NodeJS.ErrnoException).code !== 'ENOENT' &&
        (err as NodeJS.ErrnoException).code !== 'ENOTDIR'
      )
        throw err;
      exists = false;
    }
    if (exists) {
      let real: string;
      try {
        real = fs.realpathSync(probe);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ELOOP')
          return 'it goes through a symbolic link that leads nowhere';
        throw err;
      }
      return isInside(rootReal, real) ? undefined : 'it goes through a symbolic link that leads outside';
    }
    const parent = path.dirname(probe);
    // Reached the filesystem root without finding anything: only possible if root itself vanished.
    if (parent === probe) return 'its directory does not exist';
    probe = parent;
  }
}
