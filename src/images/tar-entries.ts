import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { MimoeError } from '../errors/index.js';

/**
 * Streaming, validating walk over an untrusted tar archive (plain or gzip'ed, detected by magic
 * bytes). Entry names are checked for traversal before any caller sees them; AppleDouble (`._*`)
 * entries and the archive-root `./` entry are skipped; PAX and GNU long-name headers are consumed
 * by tar-stream and never surface as entries.
 */

export type EntryKind = 'file' | 'directory' | 'symlink' | 'link' | 'other';

export interface TarEntry {
  /** Normalised: no leading `./`, no empty or `.` segments, no trailing `/`. */
  readonly name: string;
  readonly kind: EntryKind;
  readonly size: number;
  /** Raw link target of a symlink or hardlink. */
  readonly linkname: string | undefined;
  /** Position among all headers of the archive; stable between two walks of the same file. */
  readonly ordinal: number;
}

/**
 * The entry's data. A handler may read it to the end or leave it alone (the walker drains what is
 * left); it must not stop part-way through a `for await`, which would tear down the whole archive.
 */
export type EntryBody = AsyncIterable<Buffer>;

export type EntryHandler = (entry: TarEntry, body: EntryBody) => Promise<void>;

export interface WalkOptions {
  /** Names the archive in error messages: "the image", "layer abc/layer.tar". */
  readonly label: string;
  readonly maxEntries: number;
  readonly budget: ExpansionBudget;
}

/** Decompressed bytes one read of an image may produce, shared by its outer tar and its layers. */
export class ExpansionBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  take(bytes: number, label: string): void {
    this.used += bytes;
    if (this.used > this.limit) {
      throw invalid(`${label} decompresses to more than ${this.limit} bytes (a gzip bomb?)`);
    }
  }
}

export function invalid(message: string): MimoeError {
  return new MimoeError('ERR_IMAGE_INVALID', message);
}

/** Walks every entry of the archive in `source`, calling `onEntry` for each one in turn. */
export async function walkTar(source: EntryBody, options: WalkOptions, onEntry: EntryHandler): Promise<void> {
  const { label } = options;
  const { head, rest } = await peek(source, 6);
  const compression = detectCompression(head);
  if (compression !== 'none' && compression !== 'gzip') {
    throw invalid(`${label} is ${compression}-compressed; only plain and gzip-compressed tars are supported`);
  }

  const ex = extract();
  let headers = 0;
  let lastName: string | undefined;
  let handlerError: Error | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  ex.on('entry', (header, stream, next) => {
    const ordinal = headers;
    headers += 1;
    lastName = header.name;
    inFlight = (async () => {
      if (headers > options.maxEntries) throw invalid(`${label} has more than ${options.maxEntries} entries`);
      const entry = toEntry(header, ordinal, label);
      // tar-stream yields the archive's own Buffer slices; its types only say `unknown`.
      if (entry !== undefined) await onEntry(entry, stream as AsyncIterable<Buffer>);
    })().then(
      () => {
        // Unread data must still flow, or tar-stream never reaches the next header.
        stream.resume();
        next();
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        handlerError ??= error;
        ex.destroy(error);
      },
    );
  });

  try {
    if (compression === 'gzip') {
      await pipeline(rest, createGunzip(), budgetMeter(options.budget, label), ex);
    } else {
      await pipeline(rest, ex);
    }
    await inFlight;
    if (handlerError !== undefined) throw handlerError;
  } catch (err) {
    // A failing handler tears the pipeline down, and the pipeline's own error may arrive first;
    // the handler's reason is the precise one.
    await inFlight;
    throw describeFailure(handlerError ?? err, { label, headers, lastName, gzip: compression === 'gzip' });
  }
}

/** Reads a whole entry body that is known to hold at most `maxBytes`. */
export async function readBody(body: EntryBody, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) throw invalid(`${what} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Normalises an archive path, rejecting absolute paths and `..` segments (with `/` or `\` as the
 * separator, so a Windows-made tar cannot smuggle `..\..\x` past the check). `''` is the root.
 */
export function normalizeArchivePath(raw: string, label: string): string {
  const shown = JSON.stringify(raw);
  if (raw.includes('\0')) throw invalid(`${label} holds an entry name with a NUL byte: ${shown}`);
  if (/^[\\/]/.test(raw) || /^[A-Za-z]:[\\/]/.test(raw)) {
    throw invalid(`${label} holds an absolute path: ${shown}`);
  }
  if (raw.split(/[\\/]/).includes('..')) {
    throw invalid(`${label} holds a path that climbs out of the archive: ${shown}`);
  }
  return raw
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

function toEntry(header: Header, ordinal: number, label: string): TarEntry | undefined {
  const name = normalizeArchivePath(header.name, label);
  if (name === '') return undefined;
  const base = name.slice(name.lastIndexOf('/') + 1);
  // macOS tar's AppleDouble metadata twins (`._index.js`) are never image content.
  if (base.startsWith('._')) return undefined;
  return {
    name,
    kind: kindOf(header.type),
    // Typed as always set, but tar-stream leaves them null or missing for some headers.
    size: typeof header.size === 'number' ? header.size : 0,
    linkname: typeof header.linkname === 'string' && header.linkname !== '' ? header.linkname : undefined,
    ordinal,
  };
}

function kindOf(type: string | null | undefined): EntryKind {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
    case 'symlink':
    case 'link':
      return type;
    default:
      return 'other';
  }
}

type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

function detectCompression(head: Buffer): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** Reads at least `bytes` (or everything, if shorter) and hands back the same stream, unconsumed. */
async function peek(source: EntryBody, bytes: number): Promise<{ head: Buffer; rest: EntryBody }> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < bytes) {
    const step = await iterator.next();
    if (step.done === true) {
      ended = true;
      break;
    }
    seen.push(step.value);
    length += step.value.length;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* seen;
    if (ended) return;
    for (;;) {
      const step = await iterator.next();
      if (step.done === true) return;
      yield step.value;
    }
  }
  return { head: Buffer.concat(seen, length), rest: rest() };
}

function budgetMeter(budget: ExpansionBudget, label: string): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      try {
        budget.take(chunk.length, label);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null, chunk);
    },
  });
}

interface FailureContext {
  label: string;
  headers: number;
  lastName: string | undefined;
  gzip: boolean;
}

/** Turns tar-stream's and zlib's terse errors into a reason a person can act on. */
function describeFailure(err: unknown, ctx: FailureContext): Error {
  if (err instanceof MimoeError) return err;
  // An error reading the file itself (ENOENT, EIO) is the node's problem, not the image's.
  if (err instanceof Error && typeof (err as { syscall?: unknown }).syscall === 'string') return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const { label } = ctx;
  const after = ctx.lastName === undefined ? '' : ` after entry ${JSON.stringify(ctx.lastName)}`;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    if (code === 'Z_BUF_ERROR') return invalid(`${label} is a truncated gzip stream`);
    return invalid(`${label} is corrupt gzip data (${message})`);
  }
  if (message === 'Unexpected end of data') {
    if (ctx.headers === 0) return invalid(`${label} is not a tar archive (it ends before the first header)`);
    return invalid(
      `${label} is truncated: it ends inside or just after entry ${JSON.stringify(ctx.lastName)}`,
    );
  }
  if (message.startsWith('Invalid tar header') || message === 'Invalid header') {
    if (ctx.headers === 0) {
      return invalid(`${label} is not a tar archive${ctx.gzip ? ' (after gunzip)' : ''}`);
    }
    return invalid(`${label} is corrupt: an invalid tar header comes${after}`);
  }
  if (message === 'Header exceeds max size')
    return invalid(`${label} holds an oversized PAX or long-name header`);
  return invalid(`${label} could not be read as a tar archive: ${message}`);
}
