import { MAX_RESTRICTION_S, MAX_SLOW_MODE_S, type RoomModerationService } from '../rooms/moderation-service.js';
import type { RestrictionKind } from '../rooms/state/moderation.js';
import { ParleyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { audit, isObject, roomParam, userParam } from './params.js';
import type { RouteContext, RouteHandler } from './routes.js';

type Route = (method: 'get' | 'put' | 'del', pattern: string, params: number, handler: RouteHandler) => void;

/** An optional integer field of a JSON body within [min, max]; out of range is refused, never clamped. */
function intField(body: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const v = body[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new ParleyError('bad_request', `${name} must be an integer from ${min} to ${max}`);
  return v;
}

function objectBody(ctx: RouteContext): Record<string, unknown> {
  if (!isObject(ctx.body)) throw new ParleyError('bad_request', 'the body must be a JSON object');
  return ctx.body;
}

/**
 * The admin API's room moderation (docs/admin-api.md, "Moderation"): slow mode, mutes and bans.
 * A mute or ban applies at once on every node; a ban also removes the user from the room.
 */
export function mountModerationRoutes(route: Route, moderation: RoomModerationService, logger: Logger): void {
  route('get', '/admin/rooms/:room/moderation', 1, async ({ params }) => {
    const m = await moderation.read(roomParam(params));
    return { status: 200, body: { room: m.room, slowmode: m.slowModeS, muted: m.muted, banned: m.banned } };
  });

  route('put', '/admin/rooms/:room/slowmode', 1, async (ctx) => {
    const room = roomParam(ctx.params);
    const seconds = intField(objectBody(ctx), 'seconds', 1, MAX_SLOW_MODE_S);
    if (seconds === undefined) throw new ParleyError('bad_request', 'seconds is required');
    const body = await moderation.setSlowMode(room, seconds);
    audit(logger, ctx, 'slowmode', { room }, { seconds });
    return { status: 200, body };
  });

  route('del', '/admin/rooms/:room/slowmode', 1, async (ctx) => {
    const room = roomParam(ctx.params);
    const body = await moderation.setSlowMode(room, 0);
    audit(logger, ctx, 'slowmode', { room }, { seconds: 0 });
    return { status: 200, body };
  });

  for (const [kind, path] of [['mute', 'mutes'], ['ban', 'bans']] as [RestrictionKind, string][]) {
    route('put', `/admin/rooms/:room/${path}/:user`, 2, async (ctx) => {
      const room = roomParam(ctx.params);
      const user = userParam(ctx.params.slice(1));
      const duration = intField(objectBody(ctx), 'duration', 1, MAX_RESTRICTION_S);
      const body = await moderation.restrict(room, kind, user, duration);
      audit(logger, ctx, kind, { room, user }, { until: body.until });
      return { status: 200, body };
    });

    route('del', `/admin/rooms/:room/${path}/:user`, 2, async (ctx) => {
      const room = roomParam(ctx.params);
      const user = userParam(ctx.params.slice(1));
      const body = await moderation.lift(room, kind, user);
      audit(logger, ctx, `un${kind}`, { room, user }, { lifted: body.lifted });
      return { status: 200, body };
    });
  }
}
