/** System error codes of a write that found no room on the disk (file system or SQLite). */
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** True for an error a write gets from a full disk (or the user's disk quota). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DISK_FULL.has(code);
}
