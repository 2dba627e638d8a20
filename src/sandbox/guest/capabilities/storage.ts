/**
 * `context.storage` (runtime.md §3): the mim's DataStore, synchronous as the contract says. Each
 * method checks what it can here (types, callbacks), converts values with String() in the mim's
 * own context, and calls the sandbox process through the synchronous host channel.
 *
 * eachItem / eachItemByTag keep the DataStore's iteration semantics across the boundary: the items
 * that existed when the iteration started, in insertion order, read a page at a time; when the
 * mim's callback writes, the rest of the page is read again, so an item it removed is not visited
 * and a value it replaced is seen replaced.
 *
 * Absent methods (getItemsByTag, lockExecute...) stay absent: calling one is a TypeError.
 */
import type { HostRow } from '../../abi.js';
import { callbackArg, describe, nameArg, plainData, stringArg, type HostCaller } from '../host.js';

type ItemCallback = (key: string, value: string) => void;

function countArg(method: string, what: string, value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'string') return value;
  throw new TypeError(`${method}: ${what} must be a non-negative integer, got ${describe(value)}`);
}

export function createStorage(call: HostCaller): Record<string, unknown> {
  /** Writes made through this context: an iteration notices the ones its callback made. */
  let writes = 0;

  const iterate = (cb: ItemCallback, tag: string | null): void => {
    const last = call('lastSeq') as number;
    let after = 0;
    for (;;) {
      const [rows, complete] = call('page', tag, after, last) as [HostRow[], boolean];
      const epoch = writes;
      let reread = false;
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i] as HostRow;
        after = row[0];
        cb(row[1], row[2]);
        if (writes !== epoch) {
          reread = true;
          break;
        }
      }
      if (!reread && complete) return;
    }
  };

  return {
    getItem(key: unknown): string | null {
      return call('getItem', nameArg('getItem', 'key', key)) as string | null;
    },
    setItem(key: unknown, value: unknown): void {
      const k = nameArg('setItem', 'key', key);
      call('setItem', k, String(value));
      writes++;
    },
    removeItem(key: unknown): void {
      call('removeItem', nameArg('removeItem', 'key', key));
      writes++;
    },
    eachItem(callback: unknown): void {
      iterate(callbackArg<ItemCallback>('eachItem', callback), null);
    },
    setItemWithTag(key: unknown, value: unknown, tag: unknown): void {
      const k = nameArg('setItemWithTag', 'key', key);
      const v = String(value);
      call('setItemWithTag', k, v, nameArg('setItemWithTag', 'tag', tag));
      writes++;
    },
    eachItemByTag(tag: unknown, callback: unknown): void {
      const t = nameArg('eachItemByTag', 'tag', tag);
      iterate(callbackArg<ItemCallback>('eachItemByTag', callback), t);
    },
    removeItemsByTag(tag: unknown): void {
      call('removeItemsByTag', nameArg('removeItemsByTag', 'tag', tag));
      writes++;
    },
    getJsonItemsPaginated(offset: unknown, limit: unknown, callback: unknown, options?: unknown): void {
      const method = 'getJsonItemsPaginated';
      const off = countArg(method, 'offset', offset);
      const lim = countArg(method, 'limit', limit);
      const cb = callbackArg<(items: unknown[], totalCount: number) => void>(method, callback);
      const [items, totalCount] = call('jsonPage', off, lim, plainData(method, options)) as [
        unknown[],
        number,
      ];
      cb(items, totalCount);
    },
    saveFile(fileName: unknown, base64Data: unknown): void {
      const name = stringArg('saveFile', 'the file name', fileName);
      if (typeof base64Data !== 'string')
        throw new TypeError(`saveFile: the data must be a base64 string, got ${describe(base64Data)}`);
      call('saveFile', name, base64Data);
    },
    deleteFile(path: unknown): void {
      call('deleteFile', stringArg('deleteFile', 'the path', path));
    },
  };
}
