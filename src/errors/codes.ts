/**
 * The error code catalogue. Clients match on these codes, never on message text.
 * Each entry's `status` is read only by src/http/errors.ts; domain modules never pick statuses.
 * docs/reference/errors.md is kept in sync with this table by a test.
 */
export const ERROR_CODES = {
  ERR_UNAUTHORIZED: { status: 403, summary: 'Missing or invalid API key or token' },
  ERR_FORBIDDEN: { status: 403, summary: 'The operation is not allowed on this object (addon protection)' },
  ERR_BAD_REQUEST: { status: 400, summary: 'The request is malformed (body, JSON, header or parameter)' },
  ERR_BODY_TOO_LARGE: { status: 413, summary: 'The request body exceeds the configured limit' },
  ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    summary: 'The request body has a content type this route does not take',
  },
  ERR_NOT_FOUND: { status: 404, summary: 'No such route' },
  ERR_HEADERS_TOO_LARGE: { status: 431, summary: 'The request headers exceed the HTTP parser limit' },
  ERR_REQUEST_TIMEOUT: { status: 408, summary: 'The request was not received in time' },
  ERR_CLIENT_ID_INVALID: { status: 400, summary: 'The x-client-id header is not a valid client id' },
  ERR_IMAGE_INVALID: { status: 400, summary: 'The upload is not a valid mim image' },
  ERR_IMAGE_TOO_LARGE: { status: 413, summary: 'The image exceeds the configured size limit' },
  ERR_IMAGE_NOT_FOUND: { status: 404, summary: 'No image with that id for this client' },
  ERR_IMAGE_IN_USE: { status: 409, summary: 'The image is used by deployed mims' },
  ERR_MIM_INVALID: { status: 400, summary: 'The mim configuration is invalid' },
  ERR_MIM_IMAGE_UNKNOWN: { status: 400, summary: 'The named image does not exist for this client' },
  ERR_MIM_EXISTS: { status: 409, summary: 'A mim with that id is already deployed' },
  ERR_MOUNT_CONFLICT: { status: 409, summary: 'Another mim is mounted at that path' },
  ERR_MIM_NOT_FOUND: { status: 404, summary: 'No mim with that id for this client' },
  ERR_ROUTE_NOT_FOUND: { status: 404, summary: 'No mim is mounted at that path' },
  ERR_MIM_EXCEPTION: { status: 500, summary: 'The mim threw an uncaught exception' },
  ERR_MIM_INVALID_BUNDLE: {
    status: 500,
    summary: 'The mim bundle failed to load or set no mimikModule.exports',
  },
  ERR_MIM_TIMEOUT: { status: 504, summary: 'The mim did not finish within MCM.MAX_EXECUTION_TIME_SEC' },
  ERR_MIM_MEMORY: { status: 503, summary: 'The mim exceeded its memory limit and was restarted' },
  ERR_MIM_BUSY: { status: 503, summary: "The mim's request queue is full; retry later" },
  ERR_SANDBOX_CRASHED: { status: 503, summary: 'The sandbox process serving the request crashed' },
  ERR_MIM_STOPPED: { status: 503, summary: 'The mim was stopped after crashing its sandbox repeatedly' },
  ERR_BACKUP_INVALID: { status: 400, summary: 'Corrupt, truncated or foreign DataStore backup file' },
  ERR_BACKUP_PATH: { status: 400, summary: "The backup path is outside the node's backup directory" },
  ERR_FILE_NOT_FOUND: { status: 404, summary: "No such file in the mim's file area" },
  ERR_DATASTORE_FULL: {
    status: 507,
    summary: "The mim's DataStore reached a quota (bytes, files), or the node's disk is full",
  },
  ERR_DISK_FULL: { status: 507, summary: "The node's disk (or its user's disk quota) is full" },
  ERR_DATASTORE_UNREADABLE: { status: 500, summary: 'A DataStore is unreadable (key, corruption, schema)' },
  ERR_NOT_SUPPORTED: { status: 501, summary: 'The capability is not available on this node yet' },
  ERR_SHUTTING_DOWN: { status: 503, summary: 'The node is shutting down' },
  ERR_NOT_READY: { status: 503, summary: 'The node is starting (mims and addons not yet in place)' },
  ERR_WORK_DIR_IN_USE: { status: 500, summary: 'Another node runs on the same work dir' },
  ERR_INTERNAL: { status: 500, summary: 'An unexpected error inside the node' },
  ERR_JWT_KEY_INVALID: {
    status: 500,
    summary: 'A JWT verification key file is missing, unreadable or invalid',
  },
  ERR_HMAC_INVALID: { status: 403, summary: 'Missing, malformed, forged or other-resource hmac code' },
  ERR_HMAC_EXPIRED: { status: 403, summary: 'The hmac code has expired; mint a new one' },
  ERR_WEBSOCKET_UNSUPPORTED: { status: 400, summary: 'The mim was not deployed with WebSocket support' },
  ERR_WEBSOCKET_LIMIT: { status: 503, summary: 'Too many WebSocket clients for the mim or the node' },
  ERR_ADDON_INVALID: {
    status: 400,
    summary: 'An addon is invalid (manifest, files, checksum); it is refused',
  },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
