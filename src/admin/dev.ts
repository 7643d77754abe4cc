import { readFile } from 'node:fs/promises';
import { extname, posix, resolve, sep } from 'node:path';
import { mintToken } from '../gateway/auth.js';
import { ResponseGuard, errorBody } from '../gateway/http.js';
import type { TemplatedApp } from '../gateway/uws.js';
import { ParleyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { jsonRoute } from './routes.js';

const DEV_TOKEN_TTL_S = 3600;
/** No file of the demo page has a longer URL; longer ones are not looked up. */
const MAX_STATIC_URL = 1024;
/** Read errors that only mean the URL names no file (a directory, a name too long, ...). */
const NO_SUCH_FILE = new Set(['ENOENT', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG']);
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.svg': 'image/svg+xml' };

/**
 * What `GET /` tells a visitor outside dev mode, with the 404 docs/admin-api.md gives it there: where
 * clients connect and where their tokens come from, since this server mints none.
 */
export const ROOT_GUIDE = `Parley chat server (its demo page is served in dev mode only).

Clients connect to /ws (WebSocket, one JSON object per text frame) or /socket.io/ (Socket.IO v4)
with a JWT: "Authorization: Bearer <token>" or ?token=<token> on /ws, io(url, { auth: { token } })
with Socket.IO. This server does not issue tokens: the application's own backend signs them with
the key this deployment is configured with (claims: sub = the user, exp, and rooms = the rooms
the user may join).

Health: /healthz (liveness), /readyz (readiness).
`;

/**
 * The dev-mode token endpoint: `POST /dev/token` mints HS256 tokens with the generated
 * secret; outside dev mode it answers 404.
 */
export function mountDevToken(app: TemplatedApp, devMode: boolean, secret: Uint8Array | undefined, logger: Logger): void {
  jsonRoute(app, 'post', '/dev/token', 0, async ({ body }) => {
    if (!devMode || !secret) throw new ParleyError('not_found', 'dev mode only');
    const fields = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
    if (!fields) throw new ParleyError('bad_request', 'the body must be a JSON object');
    const user = fields['user'];
    const rooms = fields['rooms'] ?? ['*'];
    if (typeof user !== 'string' || user.length < 1 || user.length > 128) throw new ParleyError('bad_request', 'user must be a string of 1-128 chars');
    if (!Array.isArray(rooms) || !rooms.every((r): r is string => typeof r === 'string')) throw new ParleyError('bad_request', 'rooms must be an array of strings');
    return { status: 200, body: await mintToken(secret, { user, rooms, ttlS: DEV_TOKEN_TTL_S }) };
  }, logger);
}

/**
 * `GET /*` on the public listener: in dev mode the demo page's static files; outside it a 404,
 * whose body at `/` is ROOT_GUIDE.
 */
export function mountWebRoot(app: TemplatedApp, devMode: boolean, webRoot: string, logger: Logger): void {
  app.get('/*', (res, req) => {
    const guard = new ResponseGuard(res);
    const url = req.getUrl();
    if (!devMode && url === '/') return guard.send(404, ROOT_GUIDE, 'text/plain; charset=utf-8');
    const file = devMode ? staticFile(webRoot, url) : undefined;
    if (!file) return notFound(guard);
    readFile(file).then(
      (data) => guard.send(200, data, TYPES[extname(file)] ?? 'application/octet-stream'),
      (err: unknown) => {
        const code = err instanceof Error && 'code' in err ? err.code : undefined;
        if (typeof code === 'string' && NO_SUCH_FILE.has(code)) return notFound(guard);
        logger.error({ err, url }, 'reading a demo page file failed');
        guard.json({ status: 500, body: errorBody('internal', 'internal error') });
      },
    );
  });
}

/** Every method on every path no other route of `app` serves: 404 (uWS would drop the connection). */
export function mountNotFound(app: TemplatedApp): void {
  app.any('/*', (res) => notFound(new ResponseGuard(res)));
}

function notFound(guard: ResponseGuard): void {
  guard.json({ status: 404, body: errorBody('not_found', 'not found') });
}

/**
 * The file under `webRoot` that a request URL names, or undefined. Percent-escapes are
 * decoded and dot segments resolved as below `/`, so no URL climbs out of the root; `/` is
 * index.html, and a URL naming a directory (ending in `/` once resolved) names no file.
 */
export function staticFile(webRoot: string, url: string): string | undefined {
  if (url.length > MAX_STATIC_URL) return undefined;
  let path: string;
  try {
    path = decodeURIComponent(url);
  } catch {
    return undefined; // a malformed escape names no file
  }
  if (path.includes('\0')) return undefined;
  const rel = url === '/' ? '/index.html' : posix.normalize(`/${path}`);
  if (rel.endsWith('/')) return undefined; // a directory
  const root = resolve(webRoot);
  const file = resolve(root, `.${rel}`);
  return file.startsWith(root + sep) ? file : undefined;
}
