/**
 * A mim's DataStore as its sandbox process holds it: the SQLite store (`<dataDir>/store.db`) opened
 * on first use and kept open across requests, and the file area (`<dataDir>/files`). The store
 * must be opened here, in the process running the mim, because `context.storage` is synchronous.
 * The node closes it (close-store) before it restores or deletes the store; the next use reopens it.
 */
// The modules themselves, not the datastore index: backup and restore do not belong in a sandbox.
import { FileArea } from '../../datastore/file-area.js';
import { KvStore } from '../../datastore/kv-store.js';
import { filesDirOf, storeFileOf } from '../../datastore/layout.js';
import type { MimSpec } from '../types.js';

export type StoreSpec = Pick<MimSpec, 'mimId' | 'dataDir' | 'encryptionKey' | 'quota'>;

export class MimStore {
  private store: KvStore | undefined;
  private area: FileArea | undefined;

  constructor(private spec: StoreSpec) {}

  get dataDir(): string {
    return this.spec.dataDir;
  }

  get kv(): KvStore {
    if (this.store === undefined || this.store.closed) {
      this.store = KvStore.open(storeFileOf(this.spec.dataDir), {
        encryptionKey: this.spec.encryptionKey,
        maxBytes: this.spec.quota.storeBytes,
      });
    }
    return this.store;
  }

  get files(): FileArea {
    this.area ??= new FileArea(filesDirOf(this.spec.dataDir), { maxBytes: this.spec.quota.filesBytes });
    return this.area;
  }

  /** A redeploy may move the store or change its key or quotas: the open handles are dropped if so. */
  update(spec: StoreSpec): void {
    if (
      spec.dataDir !== this.spec.dataDir ||
      spec.encryptionKey !== this.spec.encryptionKey ||
      spec.quota.storeBytes !== this.spec.quota.storeBytes ||
      spec.quota.filesBytes !== this.spec.quota.filesBytes
    ) {
      this.close();
    }
    this.spec = spec;
  }

  /**
   * Closes the SQLite handle (idempotent) and forgets the file area, whose usage is counted from
   * disk again on next use: a restore or a delete changes the files under it. The next use reopens
   * both.
   */
  close(): void {
    const store = this.store;
    this.store = undefined;
    this.area = undefined;
    store?.close();
  }
}
