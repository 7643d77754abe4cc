import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { mintToken } from '../gateway/auth.js';
import { ResponseGuard, errorBody } from '../gateway/http.js';
import type { TemplatedApp } from '../gateway/uws.js';
import { ParleyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { jsonRoute } from './routes.js';

const DEV_TOKEN_TTL_S = 3600;
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.svg': 'image/svg+xml' };

/**
 * Dev-mode routes: `POST /dev/token` mints HS256 tokens with the generated secret, and `/`
 * serves the demo page's static files. Outside dev mode they answer 404.
 */
export function mountDev(app: TemplatedApp, devMode: boolean, secret: Uint8Array | undefined, webRoot: string, logger: Logger): void {
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

  app.get('/*', (res, req) => {
    const guard = new ResponseGuard(res);
    const url = req.getUrl();
    if (!devMode) return guard.json({ status: 404, body: errorBody('not_found', 'not found') });
    const rel = normalize(url === '/' ? '/index.html' : url).replace(/^(\.\.[/\\])+/, '');
    const file = join(webRoot, rel);
    if (!file.startsWith(webRoot) || !existsSync(file)) return guard.json({ status: 404, body: errorBody('not_found', 'not found') });
    guard.send(200, readFileSync(file).toString('utf8'), TYPES[extname(file)] ?? 'application/octet-stream');
  });
}
