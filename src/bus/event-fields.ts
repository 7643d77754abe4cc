import type { ChangeOp, ChatMessage } from '../domain/messages.js';

const OPS: readonly ChangeOp[] = ['edit', 'delete', 'react', 'unreact'];

type EventFields = Pick<ChatMessage, 'parent' | 'op' | 'target' | 'reaction' | 'version' | 'count' | 'users'>;

const isSeq = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;

/**
 * The fields that make a queued event a reply or a change (docs/protocol.md, "Message changes"),
 * checked: the fields, or the name of the first bad one.
 */
export function eventFields(m: Record<string, unknown>): { ok: true; fields: EventFields } | { ok: false; bad: string } {
  const fields: EventFields = {};
  if (m['parent'] !== undefined) {
    if (!isSeq(m['parent'])) return { ok: false, bad: 'parent' };
    fields.parent = m['parent'];
  }
  if (m['op'] === undefined) return { ok: true, fields };
  const op = m['op'];
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) return { ok: false, bad: 'op' };
  fields.op = op as ChangeOp;
  if (!isSeq(m['target'])) return { ok: false, bad: 'target' };
  fields.target = m['target'];
  if (m['reaction'] !== undefined) {
    if (typeof m['reaction'] !== 'string') return { ok: false, bad: 'reaction' };
    fields.reaction = m['reaction'];
  }
  if (m['version'] !== undefined) {
    if (!isSeq(m['version'])) return { ok: false, bad: 'version' };
    fields.version = m['version'];
  }
  if (m['count'] !== undefined) {
    const users = m['users'];
    if (typeof m['count'] !== 'number' || !Number.isSafeInteger(m['count']) || m['count'] < 0) return { ok: false, bad: 'count' };
    if (!Array.isArray(users) || !users.every((u) => typeof u === 'string')) return { ok: false, bad: 'users' };
    fields.count = m['count'];
    fields.users = users;
  }
  return { ok: true, fields };
}
