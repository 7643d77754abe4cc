import type { ClientState } from '../../packages/client/src/index.js';
import { byTestId, h, listNames } from './dom.js';
import { messageItem } from './message-item.js';
import type { ListChange, RoomModel } from './room-model.js';

/** How close to the bottom (px) the message list counts as scrolled down. */
const BOTTOM_SLACK_PX = 40;

const BANNER_TEXT: Record<ClientState, string> = {
  connecting: 'connecting…',
  reconnecting: 'reconnecting…',
  open: '',
  closed: 'disconnected',
};

/** The page's elements (from index.html, found by `data-testid`) and how each is drawn. */
export class ChatView {
  readonly login = byTestId('login');
  readonly loginForm = byTestId<HTMLFormElement>('login-form');
  readonly loginName = byTestId<HTMLInputElement>('login-name');
  readonly loginRoom = byTestId<HTMLInputElement>('login-room');
  readonly loginButton = byTestId<HTMLButtonElement>('login-button');
  readonly loginError = byTestId('login-error');
  readonly chat = byTestId('chat');
  readonly me = byTestId('me');
  readonly banner = byTestId('conn-banner');
  readonly roomList = byTestId('room-list');
  readonly joinForm = byTestId<HTMLFormElement>('join-form');
  readonly joinRoom = byTestId<HTMLInputElement>('join-room');
  readonly roomTitle = byTestId('room-title');
  readonly loadOlder = byTestId<HTMLButtonElement>('load-older');
  readonly scroller = byTestId('scroller');
  readonly messages = byTestId('messages');
  readonly seenBy = byTestId('seen-by');
  readonly typing = byTestId('typing');
  readonly composer = byTestId<HTMLFormElement>('composer');
  readonly input = byTestId<HTMLInputElement>('message-input');
  readonly error = byTestId('chat-error');
  readonly occupancy = byTestId('occupancy');
  readonly members = byTestId('members');
  readonly editBanner = byTestId('edit-banner');
  readonly editCancel = byTestId<HTMLButtonElement>('edit-cancel');
  readonly thread = byTestId('thread');
  readonly threadClose = byTestId<HTMLButtonElement>('thread-close');
  readonly threadParent = byTestId('thread-parent');
  readonly threadMessages = byTestId('thread-messages');
  readonly threadForm = byTestId<HTMLFormElement>('thread-form');
  readonly threadInput = byTestId<HTMLInputElement>('thread-input');

  /** The banner is shown whenever the client is not open; `data-state` carries the SDK state. */
  renderState(state: ClientState, detail = ''): void {
    document.body.dataset['connection'] = state;
    this.banner.dataset['state'] = state;
    this.banner.hidden = state === 'open';
    this.banner.textContent = detail ? `${BANNER_TEXT[state]}: ${detail}` : BANNER_TEXT[state];
  }

  showChat(user: string): void {
    this.login.hidden = true;
    this.chat.hidden = false;
    this.me.textContent = user;
  }

  showError(text: string): void {
    this.error.textContent = text;
    this.error.hidden = text === '';
  }

  renderRooms(rooms: Iterable<RoomModel>, active: string | undefined): void {
    const items = [...rooms].map((room) => {
      const unread = room.unread;
      return h(
        'li',
        { testid: 'room-item', 'data-room': room.name, class: room.name === active ? 'room active' : 'room' },
        h(
          'button',
          { testid: 'room-button', type: 'button', class: 'room-name', 'data-room': room.name },
          `#${room.name}`,
          h('span', { testid: 'unread-badge', class: 'badge', 'data-count': String(unread), hidden: unread === 0 ? '' : undefined }, String(unread)),
        ),
        h('button', { testid: 'leave-button', type: 'button', class: 'leave', 'data-room': room.name, title: `Leave #${room.name}` }, '×'),
      );
    });
    this.roomList.replaceChildren(...items);
  }

  /** Draws the active room (or nothing); `change` says whether appending is enough. */
  renderRoom(room: RoomModel | undefined, me: string, change: ListChange = 'rerender'): void {
    if (!room) {
      this.roomTitle.textContent = 'No room';
      this.messages.replaceChildren();
      this.loadOlder.hidden = true;
      this.renderSeenBy(undefined, me);
      this.renderTyping(undefined);
      this.renderMembers(undefined, me);
      return;
    }
    const stick = this.atBottom();
    this.roomTitle.textContent = `#${room.name}`;
    this.roomTitle.dataset['room'] = room.name;
    this.loadOlder.hidden = !room.more;
    const ctx = (seq: number) => ({ me, threads: true, reacted: (r: string) => room.reacted(seq, r, me) });
    if (change === 'rerender') {
      this.messages.replaceChildren(...room.timeline.map((m) => messageItem(m, ctx(m.seq))));
    } else if (change === 'append') {
      const shown = Number(this.messages.lastElementChild?.getAttribute('data-seq') ?? 0);
      for (const m of room.timeline) if (m.seq > shown) this.messages.append(messageItem(m, ctx(m.seq)));
    }
    this.renderSeenBy(room, me);
    if (stick) this.scrollToBottom();
  }

  renderSeenBy(room: RoomModel | undefined, me: string): void {
    const users = room?.seenBy(me) ?? [];
    this.seenBy.textContent = users.length > 0 ? `seen by ${listNames(users)}` : '';
    this.seenBy.hidden = users.length === 0;
  }

  renderTyping(room: RoomModel | undefined): void {
    const users = room?.typers() ?? [];
    let text = '';
    if (users.length === 1) text = `${users[0] ?? ''} is typing…`;
    else if (users.length > 1 && users.length <= 3) text = `${listNames(users)} are typing…`;
    else if (users.length > 3) text = `${users.length} people are typing…`;
    this.typing.textContent = text;
  }

  renderMembers(room: RoomModel | undefined, me: string): void {
    this.occupancy.textContent = room ? String(room.occupancy) : '0';
    const members = room?.members ?? [];
    this.members.replaceChildren(
      ...members.map((m) =>
        h(
          'li',
          { testid: 'member', 'data-user': m.user, 'data-devices': String(m.devices), class: m.user === me ? 'member me' : 'member', title: `online since ${m.since}` },
          h('span', { class: 'dot' }),
          h('span', { testid: 'member-name', class: 'member-name' }, m.user === me ? `${m.user} (you)` : m.user),
          h('span', { testid: 'member-devices', class: 'devices' }, `${m.devices} ${m.devices === 1 ? 'device' : 'devices'}`),
        ),
      ),
    );
  }

  /** The thread of message `parent` in `room` (or no thread): the parent, then its replies. */
  renderThread(room: RoomModel | undefined, parent: number | undefined, me: string): void {
    const root = parent === undefined ? undefined : room?.find(parent);
    this.thread.hidden = !room || !root;
    if (!room || !root) return;
    const ctx = (seq: number) => ({ me, threads: false, reacted: (r: string) => room.reacted(seq, r, me) });
    this.thread.dataset['parent'] = String(root.seq);
    this.threadParent.replaceChildren(messageItem(root, ctx(root.seq)));
    this.threadMessages.replaceChildren(...room.thread(root.seq).map((m) => messageItem(m, ctx(m.seq))));
  }

  /** The composer edits a message (with its text) or, without, writes a new one. */
  setEditing(text: string | undefined): void {
    this.editBanner.hidden = text === undefined;
    this.composer.dataset['mode'] = text === undefined ? 'send' : 'edit';
    if (text !== undefined) {
      this.input.value = text;
      this.input.focus();
    }
  }

  atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= BOTTOM_SLACK_PX;
  }

  scrollToBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
