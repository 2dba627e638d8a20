import type { Socket } from 'node:net';

interface ConnectionError extends Error {
  code?: string;
}

/**
 * Answers requests Node's HTTP parser refuses before any route sees them (oversized headers,
 * malformed request lines, unknown methods) with the node's own JSON error shape.
 */
export function clientErrorHandler(err: ConnectionError, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let error = 'ERR_BAD_REQUEST';
  let message = 'malformed HTTP request';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    error = 'ERR_REQUEST_TIMEOUT';
    message = 'the request was not received in time';
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    error = 'ERR_HEADERS_TOO_LARGE';
    message = 'the request headers are too large';
  }
  const body = JSON.stringify({ code: status, error, message });
  const reason =
    status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // end(), not destroy(): closing a socket with unread input sends a reset, and the client may
  // lose the answer. The rest of the request is drained and dropped until the client goes away.
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.resume();
  setTimeout(() => socket.destroy(), 2000).unref();
}
