import { ROOM_RE } from '../gateway/frames.js';
import { ParleyError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { RouteContext } from './routes.js';

/** Checks of the admin API's path parameters and bodies, and its audit line. */

export const USER_RE = /^.{1,128}$/su;

/**
 * The audit line of an admin action that changed something: `who` (the caller's address; the
 * admin token is shared, so the address is all there is to tell callers apart, and the token
 * itself is never logged), `action`, `target`, and what the action did.
 */
export function audit(logger: Logger, ctx: RouteContext, action: string, target: Record<string, string>, details: Record<string, unknown>): void {
  const forwarded = ctx.headers['x-forwarded-for'];
  const who = { remote: ctx.remote, ...(forwarded !== undefined ? { forwardedFor: forwarded } : {}) };
  logger.info({ audit: true, who, action, target, ...details }, 'admin action');
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function roomParam(params: string[]): string {
  const room = params[0] ?? '';
  if (!ROOM_RE.test(room)) throw new ParleyError('bad_request', 'room must be 1-128 chars of [A-Za-z0-9_.:@-]');
  return room;
}

export function userParam(params: string[]): string {
  const user = params[0] ?? '';
  if (!USER_RE.test(user)) throw new ParleyError('bad_request', 'user must be 1-128 chars');
  return user;
}
