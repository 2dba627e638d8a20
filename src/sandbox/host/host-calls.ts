/**
 * The sandbox process's side of the guest's synchronous host channel (see ../abi.ts): one
 * function per request, called on this process's main thread while the mim's isolate waits.
 * Everything it answers is data: a failure of any kind (a bad argument, a refused path, a
 * SQLite error, a bug) becomes a HostReply error, never an exception into isolated-vm, so no call
 * from a mim can take the sandbox process down.
 */
import { StringDecoder } from 'node:string_decoder';
import { isMimoeError } from '../../errors/index.js';
import { HOST_PAGE_BYTES, HOST_PAGE_ROWS, type HostOp, type HostReply, type HostRow } from '../abi.js';
import type { MimStore } from './mim-store.js';
import { formBoundary, parseMultipart, type FormPart } from './multipart.js';

/** A `get` part's value reaches the mim in chunks of at most this many bytes. */
export const FORM_CHUNK_BYTES = 64 * 1024;

export interface HostCallRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

type Op = (args: unknown[]) => unknown;

/**
 * @param overdue true once the request's execution time is over: from then on every call fails,
 *   so a mim cannot go on writing after its request was answered 504.
 */
export function createHostCall(
  store: MimStore,
  request: HostCallRequest,
  overdue: () => boolean,
): (op: unknown, ...args: unknown[]) => HostReply {
  let form: FormPart[] | undefined;
  const parts = (): FormPart[] => {
    if (form !== undefined) return form;
    const boundary = formBoundary(request.headers['content-type']);
    if (boundary === undefined)
      throw new Error('handleFormRequest: the request body is not multipart/form-data');
    const body = request.body;
    form = parseMultipart(Buffer.from(body.buffer, body.byteOffset, body.byteLength), boundary);
    return form;
  };
  const part = (index: unknown): FormPart => {
    const p = typeof index === 'number' ? parts()[index] : undefined;
    if (p === undefined) throw new TypeError('handleFormRequest: no such form part');
    return p;
  };

  const ops: Record<HostOp, Op> = {
    getItem: ([key]) => store.kv.getItem(key),
    setItem: ([key, value]) => store.kv.setItem(key, value),
    removeItem: ([key]) => store.kv.removeItem(key),
    setItemWithTag: ([key, value, tag]) => store.kv.setItemWithTag(key, value, tag),
    removeItemsByTag: ([tag]) => store.kv.removeItemsByTag(tag),
    lastSeq: () => store.kv.lastSeq(),
    page: ([tag, after, last]) => {
      const rows = store.kv.readPage(tag, after, last, HOST_PAGE_ROWS);
      // Cut a page of large values short (keeping at least one row), so one call never copies
      // more than about HOST_PAGE_BYTES into the isolate.
      let bytes = 0;
      let keep = 0;
      while (keep < rows.length && (keep === 0 || bytes < HOST_PAGE_BYTES)) {
        const row = rows[keep] as HostRow;
        bytes += row[1].length + row[2].length;
        keep++;
      }
      return [rows.slice(0, keep), keep === rows.length && rows.length < HOST_PAGE_ROWS];
    },
    jsonPage: ([offset, limit, options]) => {
      const page = store.kv.getJsonItemsPaginated(offset, limit, options);
      return [page.items, page.totalCount];
    },
    saveFile: ([name, data]) => store.files.saveFile(name, data),
    deleteFile: ([file]) => store.files.deleteFile(file),
    fileSize: ([file]) => {
      const size = store.files.fileSize(file);
      if (size === undefined) {
        const err = new Error(`no file ${JSON.stringify(file)} in the file area`);
        return Object.assign(err, { code: 'ERR_FILE_NOT_FOUND' });
      }
      return size;
    },
    formParts: () => parts().map((p) => [p.name, p.filename ?? null]),
    formValue: ([index]) => chunksOf(part(index).data),
    formStore: ([index, file]) => store.files.writeFile(file, part(index).data),
  };

  return (op, ...args) => {
    if (overdue()) return [1, 'Error', 'the request ran out of execution time', 'ERR_MIM_TIMEOUT'];
    try {
      const fn = typeof op === 'string' && Object.hasOwn(ops, op) ? ops[op as HostOp] : undefined;
      if (fn === undefined) return [1, 'TypeError', `unknown host operation ${String(op)}`, null];
      const value = fn(args);
      if (value instanceof Error) return failure(value, store.dataDir);
      return [0, value === undefined ? null : value];
    } catch (err) {
      return failure(err, store.dataDir);
    }
  };
}

/** The error as the mim sees it; the node's own paths are not the mim's business. */
function failure(err: unknown, dataDir: string): HostReply {
  const text = (message: string): string => message.split(dataDir).join('<datastore>');
  if (err instanceof TypeError) return [1, 'TypeError', text(err.message), null];
  if (isMimoeError(err)) return [1, 'Error', text(err.message), err.code];
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return [1, 'Error', text(err.message), typeof code === 'string' ? code : null];
  }
  return [1, 'Error', text(String(err)), null];
}

/** UTF-8 text in chunks of at most FORM_CHUNK_BYTES bytes, never splitting a character. */
function chunksOf(data: Buffer): string[] {
  if (data.length <= FORM_CHUNK_BYTES) return [data.toString('utf8')];
  const decoder = new StringDecoder('utf8');
  const out: string[] = [];
  for (let i = 0; i < data.length; i += FORM_CHUNK_BYTES) {
    const text = decoder.write(data.subarray(i, i + FORM_CHUNK_BYTES));
    if (text !== '') out.push(text);
  }
  const rest = decoder.end();
  if (rest !== '') out.push(rest);
  return out;
}
