/**
 * A small synchronous multipart/form-data reader (RFC 7578) over a body already in memory:
 * `req.handleFormRequest` is synchronous, and the request's bytes are all here. Parts are views
 * into the body (no copies). Malformed input is a plain Error with a short reason.
 */

export interface FormPart {
  readonly name: string;
  /** The file name of a file part; undefined for a plain field. */
  readonly filename: string | undefined;
  readonly contentType: string | undefined;
  readonly data: Buffer;
}

/** Parts one body may hold (a bound on the work a hostile body can ask for). */
export const MAX_FORM_PARTS = 1000;
const MAX_HEADER_BYTES = 16 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADERS_END = Buffer.from('\r\n\r\n');

/** The boundary of a multipart/form-data content type, or undefined if it is not one. */
export function formBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const [type, ...params] = contentType.split(';');
  if (type?.trim().toLowerCase() !== 'multipart/form-data') return undefined;
  for (const param of params) {
    const eq = param.indexOf('=');
    if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'boundary') continue;
    let value = param.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    // RFC 2046: 1 to 70 characters.
    return value.length >= 1 && value.length <= 70 ? value : undefined;
  }
  return undefined;
}

export function parseMultipart(body: Buffer, boundary: string): FormPart[] {
  const delimiter = Buffer.from(`--${boundary}`);
  const next = Buffer.from(`\r\n--${boundary}`);
  // The first delimiter opens the body (a preamble before it is ignored).
  let pos = body.indexOf(delimiter);
  if (pos === -1) throw malformed('no boundary delimiter');
  pos += delimiter.length;
  const parts: FormPart[] = [];
  for (;;) {
    if (body[pos] === 0x2d && body[pos + 1] === 0x2d) return parts; // "--": the close delimiter
    // Transport padding (spaces, tabs) may follow a delimiter before its CRLF.
    while (body[pos] === 0x20 || body[pos] === 0x09) pos++;
    if (body.indexOf(CRLF, pos) !== pos) throw malformed('a boundary delimiter is not followed by CRLF');
    pos += 2;
    const headersEnd = body.indexOf(HEADERS_END, pos - 2);
    if (headersEnd === -1 || headersEnd - pos > MAX_HEADER_BYTES)
      throw malformed('a part has no end of headers');
    const headers = parseHeaders(body.toString('utf8', pos, headersEnd));
    const dataStart = headersEnd + 4;
    const dataEnd = body.indexOf(next, dataStart);
    if (dataEnd === -1) throw malformed('the body ends inside a part (no closing boundary)');
    if (parts.length >= MAX_FORM_PARTS) throw malformed(`more than ${MAX_FORM_PARTS} parts`);
    parts.push(toPart(headers, body.subarray(dataStart, dataEnd)));
    pos = dataEnd + next.length;
  }
}

function toPart(headers: Map<string, string>, data: Buffer): FormPart {
  const disposition = headers.get('content-disposition');
  if (disposition === undefined) throw malformed('a part has no Content-Disposition');
  const params = dispositionParams(disposition);
  const name = params.get('name');
  if (name === undefined) throw malformed('a part has no name');
  const filename = params.get('filename*') ?? params.get('filename');
  return { name, filename, contentType: headers.get('content-type'), data };
}

function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  if (text === '') return headers;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('a part header is not "name: value"');
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** `form-data; name="a"; filename="b.txt"` → name, filename (quoted strings unescaped). */
function dispositionParams(value: string): Map<string, string> {
  const params = new Map<string, string>();
  let i = value.indexOf(';');
  if (i === -1) return params;
  while (i < value.length) {
    i++;
    while (value[i] === ' ' || value[i] === '\t') i++;
    const eq = value.indexOf('=', i);
    if (eq === -1) break;
    const key = value.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let v = '';
    if (value[i] === '"') {
      i++;
      while (i < value.length && value[i] !== '"') {
        if (value[i] === '\\' && i + 1 < value.length) i++;
        v += value[i];
        i++;
      }
      i++;
      const semi = value.indexOf(';', i);
      i = semi === -1 ? value.length : semi;
    } else {
      const semi = value.indexOf(';', i);
      const end = semi === -1 ? value.length : semi;
      v = value.slice(i, end).trim();
      i = end;
    }
    params.set(key, key.endsWith('*') ? extendedValue(v) : v);
  }
  return params;
}

/** RFC 5987 `UTF-8''na%C3%AFve.txt`; anything else is taken as it is. */
function extendedValue(v: string): string {
  const m = /^utf-8'[^']*'(.*)$/i.exec(v);
  if (m === null) return v;
  try {
    return decodeURIComponent(m[1] ?? '');
  } catch {
    return v;
  }
}

function malformed(reason: string): Error {
  return new Error(`handleFormRequest: malformed multipart body: ${reason}`);
}
