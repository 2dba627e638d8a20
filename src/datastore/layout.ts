import path from 'node:path';

/**
 * A mim's DataStore directory (`<workDir>/datastore/<mim id>`): the SQLite store and the file area.
 * Shared by the sandbox process that serves the mim and the node that backs it up, restores or
 * deletes it.
 */
export const STORE_FILE = 'store.db';
export const FILES_DIR = 'files';

export function storeFileOf(dataDir: string): string {
  return path.join(dataDir, STORE_FILE);
}

export function filesDirOf(dataDir: string): string {
  return path.join(dataDir, FILES_DIR);
}

/**
 * The backup directory of one client (`<backup dir>/<client id>`): the paths a client names in
 * backups and restores resolve inside it, so no client reads, restores or overwrites another
 * client's backups. Client ids are checked names (no separators, no dot segments).
 */
export function clientBackupDirOf(backupDir: string, clientId: string): string {
  return path.join(backupDir, clientId);
}
