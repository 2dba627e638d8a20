/**
 * The `req` object (runtime.md §4). Plain and extensible: routers rewrite `url`, `params`,
 * `baseUrl`, `originalUrl` and `_parsedUrl`; helpers add `req.context`.
 */
import type { GuestRequestPayload } from '../abi.js';
import { describe, type HostCaller } from './host.js';

export interface GuestRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  authorization: string | undefined;
  body: string;
  handleFormRequest: (options?: unknown) => void;
  [member: string]: unknown;
}

type FormCallback = (a: unknown, b: unknown) => unknown;

const METHOD = 'handleFormRequest';

function member(options: Record<string, unknown>, name: string): FormCallback | undefined {
  // Own members only (inherited ones count too for class instances, but never Object.prototype's):
  // an action named "toString" must find the mim's callback, not a built-in that swallows the value.
  let holder: object | null = options;
  while (
    holder !== null &&
    holder !== Object.prototype &&
    !Object.prototype.hasOwnProperty.call(holder, name)
  ) {
    holder = Object.getPrototypeOf(holder) as object | null;
  }
  if (holder === null || holder === Object.prototype) return undefined;
  const fn = options[name];
  return typeof fn === 'function' ? (fn as FormCallback) : undefined;
}

/**
 * `req.handleFormRequest(options)`: reads the multipart body part by part (parsed by the sandbox
 * process from the request's bytes), synchronously: every callback has run when it returns.
 * For each part `options.found(key, filename)` chooses the action:
 *   get → options.get(key, chunk) for each chunk of the value; store → the part is written to
 *   `path` in the file area, then options.store(path, size); skip; abort (stop reading);
 *   any other name X → options[X](key, value).
 * A found() that returns nothing skips the part. Decision: a body that is not multipart/form-data
 * is an Error, as is a malformed one.
 */
function handleForm(call: HostCaller, options: unknown): void {
  if (options === null || typeof options !== 'object')
    throw new TypeError(`${METHOD}: options must be an object, got ${describe(options)}`);
  const opts = options as Record<string, unknown>;
  const found = member(opts, 'found');
  if (found === undefined)
    throw new TypeError(`${METHOD}: options.found must be a function, got ${describe(opts['found'])}`);
  const parts = call('formParts') as Array<[string, string | null]>;
  for (let index = 0; index < parts.length; index++) {
    const [key, filename] = parts[index] as [string, string | null];
    const choice: unknown = found.call(opts, key, filename === null ? undefined : filename);
    if (choice === null || typeof choice !== 'object') continue;
    const action = (choice as { action?: unknown }).action;
    if (action === 'skip' || action === undefined) continue;
    if (action === 'abort') return;
    if (action === 'get') {
      const get = member(opts, 'get');
      if (get === undefined)
        throw new TypeError(`${METHOD}: found() chose "get" but options.get is not a function`);
      const chunks = call('formValue', index) as string[];
      for (let i = 0; i < chunks.length; i++) get.call(opts, key, chunks[i]);
      continue;
    }
    if (action === 'store') {
      const path = (choice as { path?: unknown }).path;
      if (typeof path !== 'string')
        throw new TypeError(`${METHOD}: the "store" action needs a path string, got ${describe(path)}`);
      const size = call('formStore', index, path) as number;
      member(opts, 'store')?.call(opts, path, size);
      continue;
    }
    if (typeof action !== 'string')
      throw new TypeError(`${METHOD}: found() returned an action that is not a string`);
    const custom = member(opts, action);
    if (custom === undefined)
      throw new TypeError(`${METHOD}: found() chose "${action}" but options.${action} is not a function`);
    custom.call(opts, key, (call('formValue', index) as string[]).join(''));
  }
}

export function createRequest(payload: GuestRequestPayload, call: HostCaller): GuestRequest {
  return {
    url: payload.url,
    method: payload.method,
    headers: payload.headers,
    authorization: payload.headers['authorization'],
    body: payload.body,
    // Works detached from req (the contract asks for it): it uses nothing of `this`.
    handleFormRequest(options?: unknown): void {
      handleForm(call, options);
    },
  };
}
