import type { ErasureReport } from '../rooms/erasure.js';
import type { Logger } from '../shared/logger.js';
import { audit, roomParam, userParam } from './params.js';
import type { RouteHandler } from './routes.js';

type Route = (method: 'del', pattern: string, params: number, handler: RouteHandler) => void;

/** Erases `user`'s messages, in `room` or everywhere (rooms/erasure.ts). */
export type EraseUser = (user: string, room: string | undefined) => Promise<ErasureReport>;

/**
 * `DELETE /admin/users/:user/messages?room` (docs/admin-api.md, "Erasing a user's messages"):
 * every message the user sent becomes a tombstone, everywhere it is kept; idempotent, and the
 * answer reports what this call erased.
 */
export function mountErasureRoutes(route: Route, erase: EraseUser, logger: Logger): void {
  route('del', '/admin/users/:user/messages', 1, async (ctx) => {
    const user = userParam(ctx.params);
    const only = ctx.query.get('room');
    const room = only === null ? undefined : roomParam([only]);
    const report = await erase(user, room);
    audit(logger, ctx, 'erase', { user, ...(room !== undefined ? { room } : {}) }, { erased: report.erased, already: report.already, blanked: report.store.blanked, queueRemoved: report.queue.removed, more: report.more });
    return { status: 200, body: report };
  });
}
