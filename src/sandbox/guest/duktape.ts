/**
 * The `Duktape` global: the reference engine's `enc`/`dec` codecs, which almost every published
 * bundle calls (routing ids, JWT pieces, file names).
 */
import { bytesOf, isBinary, utf8Decode, utf8Encode } from './text.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Byte value → sextet; -1 for bytes outside both the standard and URL-safe alphabets. */
const SEXTETS = (() => {
  const table = new Int16Array(256).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) table[ALPHABET.charCodeAt(i)] = i;
  table['-'.charCodeAt(0)] = 62;
  table['_'.charCodeAt(0)] = 63;
  return table;
})();
const HEX = '0123456789abcdef';

function bytesFromInput(value: unknown): Uint8Array {
  if (isBinary(value)) return bytesOf(value);
  return utf8Encode(String(value));
}

export function base64Encode(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out +=
      ALPHABET.charAt(n >> 18) +
      ALPHABET.charAt((n >> 12) & 63) +
      ALPHABET.charAt((n >> 6) & 63) +
      ALPHABET.charAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + '==';
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += ALPHABET.charAt(n >> 18) + ALPHABET.charAt((n >> 12) & 63) + ALPHABET.charAt((n >> 6) & 63) + '=';
  }
  return out;
}

/**
 * Lenient base64 decoding: whitespace ignored, padding optional, the URL-safe alphabet accepted
 * (JWT pieces arrive that way). Any other character is an error, as in Duktape.
 */
export function base64Decode(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor((input.length * 3) / 4) + 3);
  let w = 0;
  let acc = 0;
  let bits = 0;
  let padding = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i] as number;
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    if (c === 0x3d) {
      padding = true;
      continue;
    }
    const v = SEXTETS[c] as number;
    if (v < 0 || padding) throw new TypeError('base64 decode failed');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[w++] = (acc >> bits) & 0xff;
    }
  }
  if (bits >= 6) throw new TypeError('base64 decode failed');
  return out.slice(0, w);
}

function hexEncode(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    out += HEX.charAt(b >> 4) + HEX.charAt(b & 15);
  }
  return out;
}

function hexDecode(input: Uint8Array): Uint8Array {
  if (input.length % 2 !== 0) throw new TypeError('hex decode failed');
  const out = new Uint8Array(input.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(input[2 * i] as number);
    const lo = hexValue(input[2 * i + 1] as number);
    if (hi < 0 || lo < 0) throw new TypeError('hex decode failed');
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

export interface DuktapeGlobal {
  enc(format: string, value: unknown, ...rest: unknown[]): string;
  dec(format: string, value: unknown): unknown;
}

export function createDuktape(): DuktapeGlobal {
  return {
    /** `enc('base64' | 'hex', stringOrBytes)`; strings are UTF-8 encoded first. 'jc'/'jx' → JSON. */
    enc(format: string, value: unknown, ...rest: unknown[]): string {
      switch (format) {
        case 'base64':
          return base64Encode(bytesFromInput(value));
        case 'hex':
          return hexEncode(bytesFromInput(value));
        case 'jc':
        case 'jx':
          return JSON.stringify(value, rest[0] as never, rest[1] as never);
        default:
          throw new TypeError(`Duktape.enc: unsupported format "${String(format)}"`);
      }
    },
    /** `dec('base64' | 'hex', text)` → Uint8Array. 'jc'/'jx' → JSON.parse. */
    dec(format: string, value: unknown): unknown {
      switch (format) {
        case 'base64':
          return base64Decode(bytesFromInput(value));
        case 'hex':
          return hexDecode(bytesFromInput(value));
        case 'jc':
        case 'jx':
          return JSON.parse(isBinary(value) ? utf8Decode(bytesOf(value)) : String(value)) as unknown;
        default:
          throw new TypeError(`Duktape.dec: unsupported format "${String(format)}"`);
      }
    },
  };
}
