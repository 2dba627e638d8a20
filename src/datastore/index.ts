/** The DataStore: per-mim key/value store, file area, encryption key, backup and restore. */
export { KvStore, type KvStoreOptions, type ItemCallback, type JsonPage } from './kv-store.js';
export type { JsonQueryOptions, JsonFilter, JsonOrder, ComparisonOperator } from './json-query.js';
export { FileArea, type AtomicWrite, type FileAreaOptions } from './file-area.js';
export { loadOrCreateDataKey, DATA_KEY_FILE } from './encryption.js';
export {
  backupStore,
  restoreStore,
  sweepInterrupted,
  resolveBackupPath,
  type BackupOptions,
  type RestoreOptions,
} from './backup.js';
export type { BackupManifest } from './backup-archive.js';
export { STORE_FILE, FILES_DIR, storeFileOf, filesDirOf, clientBackupDirOf } from './layout.js';
export {
  parseDataStoreRequest,
  runDataStoreAction,
  type DataStoreAction,
  type DataStoreRequest,
  type DataStoreResult,
  type DataStoreTarget,
} from './operations.js';
