/**
 * A small typed client of a node's MCM API (`/mcm/v1`), over fetch. Shared by the CLI and tests:
 * it knows paths, bodies and answers, nothing of how the node works inside.
 */

export interface McmClientOptions {
  /** The node's base URL, e.g. http://127.0.0.1:8083 */
  readonly url: string;
  /** MCM_API_KEY (or a JWT with the edge:mcm scope). */
  readonly apiKey: string;
  /** Acts for this client id (`x-client-id`; API key only). */
  readonly clientId?: string | undefined;
  /** Gives up on a request after this long (default 10 minutes: a backup can be large). */
  readonly timeoutMs?: number;
}

/** The node's error body: `{ code: <status>, error: "ERR_...", message }`. */
export interface McmErrorBody {
  code: number;
  error: string;
  message: string;
}

/** An answer other than 2xx, or no answer at all (status 0, error ERR_UNREACHABLE). */
export class McmApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
    this.name = 'McmApiError';
  }
}

export type DataStoreAction = 'backup' | 'restore';

/** `POST /mims/{id}/dataStore` answer (seed: DataStore Operation Status). */
export interface DataStoreStatus {
  action: DataStoreAction;
  status: 'completed' | 'failed' | 'inProgress';
  message: string;
  path: string;
  percentage: number;
  /** Set when status is failed: why, as an error code (ERR_BACKUP_INVALID). */
  error?: string;
}

/** An image as the node describes it (seed: mim Image Object). */
export interface ImageSummary {
  id: string;
  name: string;
  digest: string;
  repoTags: string[];
  /** Unix seconds. */
  created: number;
  size: number;
}

/** `POST /mims` body (seed: Deploy mim). */
export interface DeployMimRequest {
  name: string;
  image: string;
  env?: Record<string, string>;
}

export interface MimSummary {
  id: string;
  name: string;
  image: string;
  clientId: string;
  state: string;
  status: string;
  env: Record<string, string>;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export class McmClient {
  private readonly base: string;

  constructor(private readonly opts: McmClientOptions) {
    this.base = `${opts.url.replace(/\/+$/, '')}/mcm/v1`;
  }

  listMims(): Promise<MimSummary[]> {
    return this.request<{ data: MimSummary[] }>('GET', '/mims', undefined, isDataList).then((r) => r.data);
  }

  /** `POST /mims`: deploys one mim from an image (by name) of this client; answers the mim. */
  deployMim(req: DeployMimRequest): Promise<MimSummary> {
    return this.request<MimSummary>('POST', '/mims', req, hasId);
  }

  /** `DELETE /mims/{id}`: removes the mim and its DataStore; answers the deleted mim. */
  deleteMim(mimId: string): Promise<MimSummary> {
    return this.request<MimSummary>('DELETE', `/mims/${encodeURIComponent(mimId)}`, undefined, hasId);
  }

  listImages(): Promise<ImageSummary[]> {
    return this.request<{ data: ImageSummary[] }>('GET', '/images', undefined, isDataList).then(
      (r) => r.data,
    );
  }

  /**
   * `POST /images` with the tar in the multipart field `image`. Give a file-backed Blob
   * (`fs.openAsBlob`) and the body is streamed from disk, never held in memory whole.
   */
  uploadImage(tar: Blob, fileName = 'image.tar'): Promise<ImageSummary> {
    const form = new FormData();
    form.append('image', tar, fileName);
    return this.request<ImageSummary>('POST', '/images', form, hasId);
  }

  /** `DELETE /images/{id}`: answers the deleted image (409 while a mim uses it). */
  deleteImage(imageId: string): Promise<ImageSummary> {
    return this.request<ImageSummary>('DELETE', `/images/${encodeURIComponent(imageId)}`, undefined, hasId);
  }

  /** `POST /compositions`: deploys the mims all-or-nothing; answers the deployed mims. */
  deployComposition(mims: readonly unknown[]): Promise<MimSummary[]> {
    return this.request<MimSummary[]>('POST', '/compositions', { mims }, (v) => Array.isArray(v));
  }

  /** Backs up or restores a mim's DataStore; `path` is relative to the node's backup directory. */
  dataStore(mimId: string, action: DataStoreAction, path: string): Promise<DataStoreStatus> {
    return this.request<DataStoreStatus>(
      'POST',
      `/mims/${encodeURIComponent(mimId)}/dataStore`,
      { action, path },
      (v) => isObject(v) && typeof v['status'] === 'string',
    );
  }

  /**
   * Mints a download code for an image's tarball (JSON-RPC `getEdgeHmacCode` on the same node, with
   * this client's key: the node takes the MCM key for that method). Codes live at most 7 days.
   */
  async tarballCode(imageId: string, lifetimeSeconds = 300): Promise<string> {
    const me = await this.rpc<{ nodeId: string }>('getMe', []);
    const expiry = Math.floor(Date.now() / 1000) + lifetimeSeconds;
    const resource = `/mcm/v1/images/${encodeURIComponent(imageId)}/tarball`;
    const minted = await this.rpc<{ edgeHmacCode: string }>('getEdgeHmacCode', [
      '',
      expiry,
      me.nodeId,
      resource,
    ]);
    return minted.edgeHmacCode;
  }

  /**
   * Downloads an image's tar exactly as it was uploaded (`GET /images/{id}/tarball?hmac=`). The body
   * is a stream: read it to a file, not into memory, for large images.
   */
  async downloadTarball(
    imageId: string,
    hmac: string,
  ): Promise<{ size: number; digest: string | undefined; body: ReadableStream<Uint8Array> }> {
    const url = `${this.base}/images/${encodeURIComponent(imageId)}/tarball?hmac=${encodeURIComponent(hmac)}`;
    const res = await this.fetchOrThrow(url, { method: 'GET' });
    if (!res.ok || res.body === null) await this.throwFor(res);
    return {
      size: Number(res.headers.get('content-length') ?? NaN),
      // The node sends the image digest (sha256 of the tar) as the ETag: a way to check the copy.
      digest: /^"(sha256:[0-9a-f]{64})"$/.exec(res.headers.get('etag') ?? '')?.[1],
      body: res.body as ReadableStream<Uint8Array>,
    };
  }

  /** One JSON-RPC call on the node's `/jsonrpc/v1`; an error object becomes McmApiError `ERR_JSONRPC`. */
  async rpc<T>(method: string, params: unknown[]): Promise<T> {
    const res = await this.fetchOrThrow(`${this.opts.url.replace(/\/+$/, '')}/jsonrpc/v1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.opts.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
    });
    if (!res.ok) await this.throwFor(res);
    const parsed = parseJson(await res.text());
    if (!isObject(parsed) || parsed['jsonrpc'] !== '2.0') throw this.notMimoe(res, 'not a JSON-RPC answer');
    const answer = parsed as { result?: T; error?: { code: number; message: string } };
    if (answer.error !== undefined || answer.result === undefined) {
      throw new McmApiError(
        res.status,
        'ERR_JSONRPC',
        `${method}: ${answer.error?.message ?? 'no result'} (JSON-RPC ${answer.error?.code ?? '?'})`,
        answer,
      );
    }
    return answer.result;
  }

  private async fetchOrThrow(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, {
        ...init,
        // The API never redirects, and with `follow` fetch tees the request body to replay it after
        // a redirect: an upload would then sit whole in memory (300 MB file: 375 MB RSS, vs 96 MB).
        redirect: 'error',
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS),
      });
    } catch (err) {
      throw new McmApiError(
        0,
        'ERR_UNREACHABLE',
        `cannot reach the node at ${this.opts.url}: ${unreachable(err)}`,
      );
    }
  }

  private async throwFor(res: Response): Promise<never> {
    throw this.errorOf(res, parseJson(await res.text()));
  }

  /**
   * A 2xx answer a mimOE node would not give (an HTML page, some other JSON): the URL most likely
   * names another server, which is what the user needs to hear, not a TypeError from reading it.
   */
  private notMimoe(res: Response, why: string): McmApiError {
    const type = res.headers.get('content-type')?.split(';')[0] ?? 'no content type';
    return new McmApiError(
      res.status,
      'ERR_NOT_MIMOE',
      `the server at ${this.opts.url} did not answer like a mimOE node (${why}; ${type})`,
    );
  }

  /** The node's `{ code, error, message }` answer as an McmApiError (made up from the status if absent). */
  private errorOf(res: Response, parsed: unknown): McmApiError {
    const e = parsed as Partial<McmErrorBody> | undefined;
    if (typeof e?.error === 'string' && typeof e.message === 'string') {
      return new McmApiError(res.status, e.error, e.message, parsed);
    }
    // Every error of a node carries that body: without it, another server probably answered.
    return new McmApiError(
      res.status,
      `HTTP_${res.status}`,
      `HTTP ${res.status} ${res.statusText}: the server at ${this.opts.url} did not answer like a mimOE node`,
      parsed,
    );
  }

  /** One MCM call: a FormData body goes as multipart (fetch sets the boundary), anything else as JSON. */
  async request<T>(
    method: string,
    pathname: string,
    body?: unknown,
    looksRight: (answer: unknown) => boolean = isObject,
  ): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.apiKey}` };
    if (this.opts.clientId !== undefined) headers['x-client-id'] = this.opts.clientId;
    const form = body instanceof FormData;
    if (body !== undefined && !form) headers['content-type'] = 'application/json';
    const res = await this.fetchOrThrow(`${this.base}${pathname}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: form ? body : JSON.stringify(body) }),
    });
    const parsed = parseJson(await res.text());
    if (!res.ok) throw this.errorOf(res, parsed);
    if (!looksRight(parsed)) {
      throw this.notMimoe(
        res,
        `${parsed === undefined ? 'no JSON' : 'unexpected JSON'} from ${method} ${pathname}`,
      );
    }
    return parsed as T;
  }
}

/** A body as JSON, or undefined when it is empty or not JSON. */
function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A list answer: `{ data: [...] }`. */
function isDataList(v: unknown): boolean {
  return isObject(v) && Array.isArray(v['data']);
}

/** An image or a mim: an object with an id. */
function hasId(v: unknown): boolean {
  return isObject(v) && typeof v['id'] === 'string';
}

/**
 * Why fetch got no answer, in words: its own message is only "fetch failed". An https URL on a
 * plain-http node fails the TLS handshake with an OpenSSL dump that helps nobody; say that instead.
 */
function unreachable(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause : err;
  const code = (cause as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && (code.startsWith('ERR_SSL_') || code === 'EPROTO')) {
    return `TLS handshake failed (${code}): is the node plain http?`;
  }
  return cause.message;
}
