import { createHash, timingSafeEqual } from 'node:crypto';
import type { Broadcast } from '../bus/broadcast.js';
import { decodeObject, type FrameLimits } from '../gateway/frames.js';
import type { TemplatedApp } from '../gateway/uws.js';
import type { RoomModerationService } from '../rooms/moderation-service.js';
import type { RoomService } from '../rooms/room-service.js';
import type { Presence } from '../rooms/state/presence.js';
import type { RoomState } from '../rooms/state/room-state.js';
import { ParleyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { mountModerationRoutes } from './admin-moderation.js';
import { audit, isObject, roomParam, USER_RE, userParam } from './params.js';
import { intParam, jsonRoute, type RouteHandler } from './routes.js';
import { mountErasureRoutes, type EraseUser } from './admin-erasure.js';
import { mountWebhookRoutes, type WebhookAdminApi } from './webhook-routes.js';

export interface AdminDeps {
  app: TemplatedApp;
  adminToken: string | undefined;
  nodeId: string;
  startedAt: number;
  rooms: RoomService;
  moderation: RoomModerationService;
  state: RoomState;
  presence: Presence;
  bus: Broadcast;
  limits: FrameLimits;
  logger: Logger;
  /** Erases a user's messages (DELETE /admin/users/:user/messages). */
  erase: EraseUser;
  /** With WEBHOOK_URL: the webhook streams (the routes answer 404 without). */
  webhooks?: () => WebhookAdminApi;
}

/** The admin HTTP API of docs/admin-api.md; every answer covers the whole cluster. */
export function mountAdminApi(deps: AdminDeps): void {
  const { app, logger } = deps;
  const expected = deps.adminToken === undefined ? undefined : digest(deps.adminToken);
  const authorized = (headers: Record<string, string>): void => {
    const m = /^Bearer\s+(.+)$/i.exec(headers['authorization'] ?? '');
    // Digests make the comparison constant-time whatever the presented token's length.
    if (!expected || !m?.[1] || !timingSafeEqual(digest(m[1]), expected)) {
      throw new ParleyError('unauthorized', 'a valid admin bearer token is required');
    }
  };
  const route = (method: 'get' | 'post' | 'put' | 'del' | 'any', pattern: string, params: number, handler: RouteHandler) =>
    jsonRoute(app, method, pattern, params, handler, logger, authorized);
  mountModerationRoutes(route, deps.moderation, logger);

  route('get', '/admin/stats', 0, async () => {
    const stats = await deps.presence.stats();
    return { status: 200, body: { node: deps.nodeId, nodes: stats.nodes, connections: stats.connections, rooms: stats.rooms, uptime_s: Math.floor((Date.now() - deps.startedAt) / 1000) } };
  });

  route('get', '/admin/rooms', 0, async ({ query }) => {
    const page = await deps.presence.rooms(cursorParam(query), intParam(query, 'limit', 1, 500) ?? 100);
    const heads = await Promise.all(page.items.map((r) => deps.state.head(r.room)));
    return { status: 200, body: { rooms: page.items.map((r, i) => ({ room: r.room, occupancy: r.occupancy, head: heads[i]?.head ?? 0 })), next: page.next } };
  });

  route('get', '/admin/rooms/:room/presence', 1, async ({ params, query }) => ({
    status: 200,
    body: await deps.rooms.presencePage(roomParam(params), cursorParam(query), intParam(query, 'limit', 1, 500) ?? 100),
  }));

  route('get', '/admin/rooms/:room/occupancy', 1, async ({ params }) => ({ status: 200, body: await deps.rooms.occupancy(roomParam(params)) }));

  route('get', '/admin/users/:user/presence', 1, async ({ params }) => ({ status: 200, body: await deps.presence.user(userParam(params)) }));

  route('get', '/admin/rooms/:room/messages', 1, async ({ params, query }) => {
    const page = await deps.rooms.historyPage(roomParam(params), { before: intParam(query, 'before', 1, Number.MAX_SAFE_INTEGER) }, intParam(query, 'limit', 1, 100) ?? 50);
    return { status: 200, body: { room: page.room, messages: page.messages, more: page.more } };
  });

  route('post', '/admin/rooms/:room/messages', 1, async (ctx) => {
    const { params, body } = ctx;
    const room = roomParam(params);
    if (!isObject(body)) throw new ParleyError('bad_request', 'the body must be a JSON object');
    const fields = body;
    const from = fields['from'] ?? 'system';
    if (typeof from !== 'string' || !USER_RE.test(from)) throw new ParleyError('bad_request', 'from must be a string of 1-128 chars');
    const decoded = decodeObject({ ...fields, t: 'send', room, rid: undefined }, deps.limits);
    if (!decoded.ok) throw new ParleyError(decoded.error.code, decoded.error.message);
    if (decoded.req.t !== 'send') throw new ParleyError('internal', 'decoded an unexpected frame');
    const { cid, body: text, meta } = decoded.req;
    const sent = await deps.rooms.send({ room, from, cid, body: text, ...(meta !== undefined ? { meta } : {}) });
    audit(logger, ctx, 'post', { room }, { from, cid, seq: sent.seq, dup: sent.dup });
    return { status: 200, body: sent };
  });

  route('del', '/admin/rooms/:room/messages/:seq', 2, async (ctx) => {
    const room = roomParam(ctx.params);
    const raw = ctx.params[1] ?? '';
    if (!/^[0-9]{1,16}$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) throw new ParleyError('bad_request', 'seq must be an integer from 1');
    const target = Number(raw);
    const from = ctx.query.get('from') ?? 'system';
    if (!USER_RE.test(from)) throw new ParleyError('bad_request', 'from must be a string of 1-128 chars');
    // One cid per message: deletes of it by the same `from` are one change.
    const deleted = await deps.rooms.change({ room, from, cid: `delete-${target}`, op: 'delete', target, admin: true });
    audit(logger, ctx, 'delete', { room, seq: String(target) }, { from, deleteSeq: deleted.seq, dup: deleted.dup });
    return { status: 200, body: deleted };
  });

  route('post', '/admin/users/:user/disconnect', 1, async (ctx) => {
    const { params, body } = ctx;
    const user = userParam(params);
    // An empty body is `{}`; anything but a JSON object is refused, as on every POST.
    if (!isObject(body)) throw new ParleyError('bad_request', 'the body must be a JSON object');
    const fields = body;
    const code = fields['code'] ?? 4003;
    const reason = fields['reason'] ?? 'disconnected by an administrator';
    if (typeof code !== 'number' || !Number.isInteger(code) || code < 4000 || code > 4999) {
      throw new ParleyError('bad_request', 'code must be an integer from 4000 to 4999');
    }
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > 123) throw new ParleyError('bad_request', 'reason must be a string of at most 123 bytes');
    const { devices } = await deps.presence.user(user);
    await deps.bus.publishControl({ kind: 'disconnect', user, code, reason });
    audit(logger, ctx, 'disconnect', { user }, { code, reason, disconnected: devices });
    return { status: 200, body: { disconnected: devices } };
  });

  mountErasureRoutes(route, deps.erase, logger);

  mountWebhookRoutes(route, deps.webhooks, (ctx, action, target, details) => audit(logger, ctx, action, target, details), logger);

  const notFound: RouteHandler = () => Promise.reject(new ParleyError('not_found', 'no such admin route'));
  route('get', '/admin/*', 0, notFound);
  route('post', '/admin/*', 0, notFound);
  // Other methods (PUT, DELETE, ...) on any admin path: uWS would otherwise drop the connection.
  route('any', '/admin/*', 0, notFound);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function cursorParam(query: URLSearchParams): string | undefined {
  const c = query.get('cursor');
  if (c === null || c === '') return undefined;
  if (c.length > 256) throw new ParleyError('bad_request', 'cursor is too long');
  return c;
}

