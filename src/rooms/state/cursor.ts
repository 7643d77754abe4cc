import { ParleyError } from '../../shared/errors.js';

/** Offset cursors for paged listings held in memory: opaque to clients, validated on the way in. */
export function decodeOffsetCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  if (!/^[0-9]{1,9}$/.test(cursor)) throw new ParleyError('bad_request', 'cursor is not one this server issued');
  return Number(cursor);
}

export function pageOf<T>(all: Iterable<T>, cursor: string | undefined, limit: number): { items: T[]; next: string | null } {
  const offset = decodeOffsetCursor(cursor);
  const items: T[] = [];
  let index = 0;
  let more = false;
  for (const item of all) {
    if (index++ < offset) continue;
    if (items.length === limit) {
      more = true;
      break;
    }
    items.push(item);
  }
  return { items, next: more ? String(offset + limit) : null };
}

/**
 * Key cursors for listings kept sorted by name (Redis lex ranges): the last name of the
 * previous page, base64url, so a page never repeats or skips a name that stayed listed.
 */
export function encodeKeyCursor(last: string): string {
  return Buffer.from(last, 'utf8').toString('base64url');
}

/** undefined: from the start. */
export function decodeKeyCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new ParleyError('bad_request', 'cursor is not one this server issued');
  return Buffer.from(cursor, 'base64url').toString('utf8');
}
