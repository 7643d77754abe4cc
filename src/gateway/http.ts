import type { HttpRequest, HttpResponse } from './uws.js';

/** Small helpers for uWS HTTP handlers: abort tracking, JSON bodies, corked writes. */

export interface HttpReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 400: '400 Bad Request', 401: '401 Unauthorized',
  403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 413: '413 Payload Too Large',
  426: '426 Upgrade Required',   429: '429 Too Many Requests', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? `${status} Status`;
}

/** Tracks whether the client went away; uWS forbids touching an aborted response. */
export class ResponseGuard {
  aborted = false;
  private readonly abortListeners: (() => void)[] = [];

  constructor(readonly res: HttpResponse) {
    res.onAborted(() => {
      this.aborted = true;
      for (const fn of this.abortListeners) fn();
    });
  }

  onAbort(fn: () => void): void {
    this.abortListeners.push(fn);
  }

  send(status: number, body: string | Uint8Array, contentType: string, headers: Record<string, string> = {}): void {
    if (this.aborted) return;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status)).writeHeader('content-type', contentType);
      for (const [k, v] of Object.entries(headers)) this.res.writeHeader(k, v);
      this.res.end(body);
    });
  }

  json(reply: HttpReply): void {
    this.send(reply.status, JSON.stringify(reply.body), 'application/json', reply.headers);
  }
}

export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export class BodyTooLargeError extends Error {}

/** Reads the whole request body; rejects past `limit` bytes or when the client goes away. Call synchronously in the handler. */
export function readBody(res: HttpResponse, guard: ResponseGuard, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    guard.onAbort(() => {
      if (!settled) reject(new Error('client went away'));
      settled = true;
    });
    res.onData((chunk, isLast) => {
      if (settled) return;
      size += chunk.byteLength;
      if (size > limit) {
        settled = true;
        reject(new BodyTooLargeError(`body over ${limit} bytes`));
        return;
      }
      // uWS reuses the chunk's memory after this callback returns.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        settled = true;
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

/** Request facts copied out of the stack-allocated uWS request before any await. */
export interface RequestInfo {
  method: string;
  url: string;
  query: string;
  headers: Record<string, string>;
}

export function requestInfo(req: HttpRequest): RequestInfo {
  const headers: Record<string, string> = {};
  req.forEach((k, v) => {
    headers[k] = v;
  });
  return { method: req.getMethod(), url: req.getUrl(), query: req.getQuery() ?? '', headers };
}
