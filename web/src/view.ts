import type { ChatMessage, ClientState } from '../../packages/client/src/index.js';
import { byTestId, h, listNames } from './dom.js';
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
    if (change === 'rerender') {
      this.messages.replaceChildren(...room.messages.map((m) => messageItem(m, me)));
    } else if (change === 'append') {
      const shown = Number(this.messages.lastElementChild?.getAttribute('data-seq') ?? 0);
      for (const m of room.messages) if (m.seq > shown) this.messages.append(messageItem(m, me));
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

  atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= BOTTOM_SLACK_PX;
  }

  scrollToBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}

function messageItem(m: ChatMessage, me: string): HTMLLIElement {
  const time = new Date(m.ts);
  return h(
    'li',
    { testid: 'message', 'data-seq': String(m.seq), 'data-from': m.from, class: m.from === me ? 'message mine' : 'message' },
    h(
      'div',
      { class: 'meta' },
      h('span', { testid: 'message-from', class: 'from' }, m.from),
      h('time', { testid: 'message-time', datetime: time.toISOString(), title: time.toLocaleString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })),
    ),
    h('div', { testid: 'message-body', class: 'body' }, m.body),
  );
}
