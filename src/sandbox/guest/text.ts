/**
 * UTF-8 TextEncoder / TextDecoder (WHATWG Encoding semantics) and byte helpers.
 * V8 inside isolated-vm has no TextEncoder/TextDecoder, and mims call them unguarded next to
 * `Duktape.dec`, so the runtime provides its own.
 */

const REPLACEMENT = 0xfffd;
/** `String.fromCharCode.apply` argument count per call, kept well under engines' argument limits. */
const CHARS_PER_CALL = 8192;

export function isBinary(value: unknown): value is ArrayBuffer | ArrayBufferView {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

/** A Uint8Array over the bytes of an ArrayBuffer or any view (no copy). */
export function bytesOf(value: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** Encodes a string as UTF-8; lone surrogates become U+FFFD, as in TextEncoder. */
export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  const written = encodeIntoBytes(text, out).written;
  return out.slice(0, written);
}

function encodeIntoBytes(text: string, out: Uint8Array): { read: number; written: number } {
  let w = 0;
  let i = 0;
  const n = text.length;
  const cap = out.length;
  while (i < n) {
    let cp = text.charCodeAt(i);
    let units = 1;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0;
      if (cp <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00);
        units = 2;
      } else {
        cp = REPLACEMENT;
      }
    }
    if (cp < 0x80) {
      if (w + 1 > cap) break;
      out[w++] = cp;
    } else if (cp < 0x800) {
      if (w + 2 > cap) break;
      out[w++] = 0xc0 | (cp >> 6);
      out[w++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      if (w + 3 > cap) break;
      out[w++] = 0xe0 | (cp >> 12);
      out[w++] = 0x80 | ((cp >> 6) & 0x3f);
      out[w++] = 0x80 | (cp & 0x3f);
    } else {
      if (w + 4 > cap) break;
      out[w++] = 0xf0 | (cp >> 18);
      out[w++] = 0x80 | ((cp >> 12) & 0x3f);
      out[w++] = 0x80 | ((cp >> 6) & 0x3f);
      out[w++] = 0x80 | (cp & 0x3f);
    }
    i += units;
  }
  return { read: i, written: w };
}

/** Incremental UTF-8 decoder state (the WHATWG "UTF-8 decoder" algorithm). */
class Utf8DecoderState {
  private needed = 0;
  private seen = 0;
  private codePoint = 0;
  private lower = 0x80;
  private upper = 0xbf;

  constructor(private readonly fatal: boolean) {}

  private error(units: number[]): void {
    if (this.fatal) throw new TypeError('The encoded data was not valid utf-8');
    units.push(REPLACEMENT);
  }

  private reset(): void {
    this.needed = 0;
    this.seen = 0;
    this.codePoint = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  decode(bytes: Uint8Array, flush: boolean): string {
    const units: number[] = [];
    let text = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (this.needed === 0) {
        if (b <= 0x7f) {
          units.push(b);
        } else if (b >= 0xc2 && b <= 0xdf) {
          this.needed = 1;
          this.codePoint = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
          if (b === 0xe0) this.lower = 0xa0;
          if (b === 0xed) this.upper = 0x9f;
          this.needed = 2;
          this.codePoint = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
          if (b === 0xf0) this.lower = 0x90;
          if (b === 0xf4) this.upper = 0x8f;
          this.needed = 3;
          this.codePoint = b & 0x07;
        } else {
          this.error(units);
        }
      } else if (b < this.lower || b > this.upper) {
        // The byte is not a valid continuation: replace the partial sequence, then reread the byte.
        this.reset();
        this.error(units);
        i--;
      } else {
        this.lower = 0x80;
        this.upper = 0xbf;
        this.codePoint = (this.codePoint << 6) | (b & 0x3f);
        this.seen++;
        if (this.seen === this.needed) {
          const cp = this.codePoint;
          this.reset();
          if (cp >= 0x10000) {
            units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
          } else {
            units.push(cp);
          }
        }
      }
      if (units.length >= CHARS_PER_CALL) {
        text += String.fromCharCode.apply(null, units);
        units.length = 0;
      }
    }
    if (flush && this.needed !== 0) {
      this.reset();
      this.error(units);
    }
    if (units.length > 0) text += String.fromCharCode.apply(null, units);
    return text;
  }
}

/** Decodes UTF-8 bytes with replacement characters (no BOM handling). */
export function utf8Decode(bytes: Uint8Array): string {
  return new Utf8DecoderState(false).decode(bytes, true);
}

const UTF8_LABELS = [
  'utf-8',
  'utf8',
  'unicode-1-1-utf-8',
  'unicode11utf8',
  'unicode20utf8',
  'x-unicode20utf8',
];

function normaliseLabel(label: unknown): string {
  const name = String(label).trim().toLowerCase();
  if (UTF8_LABELS.indexOf(name) < 0) {
    throw new RangeError(`The "${String(label)}" encoding is not supported`);
  }
  return 'utf-8';
}

export class TextEncoder {
  get encoding(): string {
    return 'utf-8';
  }

  encode(input: unknown = ''): Uint8Array {
    return utf8Encode(String(input));
  }

  encodeInto(input: unknown, destination: Uint8Array): { read: number; written: number } {
    if (!(destination instanceof Uint8Array))
      throw new TypeError('encodeInto: destination must be a Uint8Array');
    return encodeIntoBytes(String(input), destination);
  }
}

interface TextDecoderOptions {
  fatal?: boolean;
  ignoreBOM?: boolean;
}

export class TextDecoder {
  readonly encoding: string;
  readonly fatal: boolean;
  readonly ignoreBOM: boolean;
  private state: Utf8DecoderState;
  /** True until the first non-empty decoded output of a stream: where a BOM is dropped. */
  private atStart = true;

  constructor(label: unknown = 'utf-8', options: TextDecoderOptions = {}) {
    this.encoding = normaliseLabel(label);
    this.fatal = options.fatal === true;
    this.ignoreBOM = options.ignoreBOM === true;
    this.state = new Utf8DecoderState(this.fatal);
  }

  decode(input?: unknown, options: { stream?: boolean } = {}): string {
    let bytes: Uint8Array;
    if (input === undefined || input === null) bytes = new Uint8Array(0);
    else if (isBinary(input)) bytes = bytesOf(input);
    else throw new TypeError('TextDecoder.decode: input must be an ArrayBuffer or an ArrayBuffer view');
    const stream = options.stream === true;
    let text = this.state.decode(bytes, !stream);
    if (this.atStart && text.length > 0) {
      this.atStart = false;
      if (!this.ignoreBOM && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (!stream) {
      this.state = new Utf8DecoderState(this.fatal);
      this.atStart = true;
    }
    return text;
  }
}
