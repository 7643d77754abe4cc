import type { ChatMessage } from '../../packages/client/src/index.js';
import { h } from './dom.js';

/** The reactions the page offers on every message. */
export const QUICK_REACTIONS = ['👍', '❤️', '😂', '🎉'];

/** What a message item needs to know besides the message. */
export interface ItemContext {
  me: string;
  /** True when `me` has `reaction` on the message. */
  reacted(reaction: string): boolean;
  /** Draw the thread link and the reply action (the timeline), or not (inside a thread). */
  threads: boolean;
}

/**
 * One message: its sender, time, body (or a tombstone), an "edited" mark, its reactions (a chip
 * per reaction, this user's highlighted; a click toggles it), its thread's reply count, and the
 * actions (react, reply, and for this user's own messages edit and delete). Buttons carry
 * `data-action` and the message's `data-seq` for the page's click handler.
 */
export function messageItem(m: ChatMessage, ctx: ItemContext): HTMLLIElement {
  const time = new Date(m.ts);
  const mine = m.from === ctx.me;
  const seq = String(m.seq);
  const classes = ['message', mine ? 'mine' : '', m.deleted ? 'deleted' : ''].filter(Boolean).join(' ');
  const edited = (m.version ?? 1) > 1 && !m.deleted;
  const button = (action: string, label: string, extra: Record<string, string> = {}) => h('button', { type: 'button', class: `action ${action}`, 'data-action': action, 'data-seq': seq, testid: `${action}-button`, ...extra }, label);
  const reactions = Object.entries(m.reactions ?? {}).map(([reaction, r]) =>
    h(
      'button',
      { type: 'button', testid: 'reaction', class: ctx.reacted(reaction) ? 'reaction own' : 'reaction', 'data-action': 'toggle-reaction', 'data-seq': seq, 'data-reaction': reaction, 'data-count': String(r.count), title: r.users.join(', ') },
      `${reaction} ${r.count}`,
    ),
  );
  return h(
    'li',
    { testid: 'message', 'data-seq': seq, 'data-from': m.from, class: classes },
    h(
      'div',
      { class: 'meta' },
      h('span', { testid: 'message-from', class: 'from' }, m.from),
      h('time', { testid: 'message-time', datetime: time.toISOString(), title: time.toLocaleString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
      edited ? h('span', { testid: 'edited', class: 'edited' }, 'edited') : null,
    ),
    m.deleted ? h('div', { testid: 'message-body', class: 'body tombstone' }, 'message deleted') : h('div', { testid: 'message-body', class: 'body' }, m.body),
    reactions.length > 0 ? h('div', { testid: 'reactions', class: 'reactions' }, ...reactions) : null,
    ctx.threads && m.replies ? h('button', { type: 'button', testid: 'replies', class: 'replies', 'data-action': 'open-thread', 'data-seq': seq }, `${m.replies.count} ${m.replies.count === 1 ? 'reply' : 'replies'}`) : null,
    m.deleted
      ? null
      : h(
          'div',
          { class: 'actions' },
          ...QUICK_REACTIONS.map((r) => h('button', { type: 'button', class: 'action react', testid: 'react-option', 'data-action': 'toggle-reaction', 'data-seq': seq, 'data-reaction': r, title: `react ${r}` }, r)),
          ctx.threads ? button('reply', 'reply', { 'data-action': 'open-thread' }) : null,
          mine ? button('edit', 'edit') : null,
          mine ? button('delete', 'delete') : null,
        ),
  );
}
