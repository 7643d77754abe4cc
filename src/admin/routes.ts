import { errorBody, ResponseGuard, readBody, BodyTooLargeError, type HttpReply } from '../gateway/http.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../gateway/uws.js';
import { ParleyError, toWireError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

/** What a JSON route handler gets: path parameters, query, headers and (for POST and PUT) the parsed body. */
export interface RouteContext {
  params: string[];
  query: URLSearchParams;
  headers: Record<string, string>;
  body: unknown;
  /** The peer's IP address (a proxy's, behind one: see the x-forwarded-for header). */
  remote: string;
}

export type RouteHandler = (ctx: RouteContext) => Promise<HttpReply>;

const MAX_BODY = 64 * 1024;

/**
 * Registers an async JSON route on uWS: copies what it needs from the stack-allocated request,
 * reads and parses the body, and turns ParleyErrors into `{"error":{code,message}}` answers.
 * `authorize` runs before the body is parsed, so an unauthorized request gets its 401 whatever
 * its body. `any` answers every method (uWS prefers a route of the request's own method).
 */
export function jsonRoute(
  app: TemplatedApp,
  method: 'get' | 'post' | 'put' | 'del' | 'any',
  pattern: string,
  paramCount: number,
  handler: RouteHandler,
  logger: Logger,
  authorize?: (headers: Record<string, string>) => void,
): void {
  app[method](pattern, (res: HttpResponse, req: HttpRequest) => {
    const guard = new ResponseGuard(res);
    const params = Array.from({ length: paramCount }, (_, i) => decodeParam(req.getParameter(i) ?? ''));
    const query = new URLSearchParams(req.getQuery() ?? '');
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = v;
    });
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString('utf8');
    const body = method === 'post' || method === 'put' ? readBody(res, guard, MAX_BODY) : Promise.resolve(undefined);
    // Handled here too: a request refused by `authorize` never awaits its body.
    body.catch(() => undefined);
    void run(guard, logger, pattern, async () => {
      authorize?.(headers);
      return handler({ params, query, headers, remote, body: parseJson(await body) });
    });
  });
}

async function run(guard: ResponseGuard, logger: Logger, pattern: string, fn: () => Promise<HttpReply>): Promise<void> {
  try {
    guard.json(await fn());
  } catch (err) {
    if (guard.aborted) return;
    if (err instanceof BodyTooLargeError) return guard.json({ status: 413, body: errorBody('too_large', err.message) });
    if (err instanceof ParleyError) return guard.json({ status: statusOf(err), body: errorBody(err.code, err.message) });
    logger.error({ err, route: pattern }, 'admin request failed');
    const wire = toWireError(err);
    guard.json({ status: 500, body: errorBody(wire.code, wire.message) });
  }
}

/** A malformed percent-encoding stays as sent (and fails the route's own validation) instead of throwing out of the uWS handler. */
function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function parseJson(raw: Buffer | undefined): unknown {
  if (raw === undefined) return undefined;
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ParleyError('bad_request', 'the body must be valid JSON');
  }
}

export function statusOf(err: ParleyError): number {
  switch (err.code) {
    case 'bad_request':
      return 400;
    case 'too_large':
      return 413;
    case 'unauthorized':
      return 401;
    case 'forbidden':
    case 'muted':
    case 'banned':
      return 403;
    case 'not_found':
    case 'not_joined':
      return 404;
    case 'rate_limited':
    case 'slow_mode':
    case 'user_rate_limited':
      return 429;
    case 'rejected':
      return 422;
    case 'overloaded':
      return 503;
    case 'internal':
      return 500;
  }
}

/** An optional integer query parameter within [min, max]; out of range is refused, never clamped. */
export function intParam(query: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^[0-9]{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ParleyError('bad_request', `${name} must be an integer from ${min} to ${max}`);
  }
  return Number(raw);
}
