/**
 * `context.storage` (runtime.md §3). The DataStore is not wired to the sandbox yet: every method
 * throws a clear Error the mim may catch. Absent methods stay absent, so calling one is the
 * TypeError the contract asks for.
 */
import { notAvailable } from './unavailable.js';

const METHODS = [
  'getItem',
  'setItem',
  'removeItem',
  'eachItem',
  'setItemWithTag',
  'eachItemByTag',
  'removeItemsByTag',
  'getJsonItemsPaginated',
  'saveFile',
  'deleteFile',
] as const;

export function createStorage(): Record<string, unknown> {
  const storage: Record<string, unknown> = {};
  for (const method of METHODS) {
    storage[method] = function unavailable(): never {
      throw notAvailable(`context.storage.${method}`);
    };
  }
  return storage;
}
