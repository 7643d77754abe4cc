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
