import { ParleyClientError, connect } from '../../packages/client/src/index.js';
import type { ChatMessage, ClientOptions, ParleyClient } from '../../packages/client/src/index.js';
import { ChangeActions } from './change-actions.js';
import { RoomModel } from './room-model.js';
import type { ListChange } from './room-model.js';
import { TypingSender } from './typing.js';
import type { ChatView } from './view.js';

const HISTORY_PAGE = 50;
/** A typing indicator whose `on:false` never came (a lost connection) goes after this long. */
const TYPING_LOCAL_TTL_MS = 10_000;
export const ROOM_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;

/**
 * The chat page's behaviour over one `ParleyClient`: rooms joined, the active one, unread
 * counts, read receipts, typing and presence. Drawing is the view's job.
 */
export class ChatApp {
  readonly client: ParleyClient;
  readonly rooms = new Map<string, RoomModel>();
  active: string | undefined;
  /** Edits, deletes, reactions and the thread panel. */
  readonly changes: ChangeActions;
  readonly #typing: TypingSender;
  /** Rooms with a `read` request on the wire: one at a time per room, the newest seq next. */
  readonly #reading = new Set<string>();

  constructor(
    url: string,
    readonly user: string,
    getToken: () => Promise<string>,
    private readonly view: ChatView,
    options: ClientOptions = {},
  ) {
    this.client = connect(url, { getToken }, options);
    this.changes = new ChangeActions(this.client, view, {
      user,
      activeRoom: () => this.#activeRoom(),
      redraw: (room) => this.#show(room, 'rerender'),
      fail: (what, err) => view.showError(`${what}: ${describe(err)}`),
    });
    this.#typing = new TypingSender((room, on) => void this.client.typing(room, on).catch(() => undefined));
    const c = this.client;
    c.on('state', (state) => {
      view.renderState(state);
      if (state !== 'open') this.#typing.reset();
    });
    c.on('hello', () => this.#onHello());
    c.on('close', (e) => {
      if (!e.willReconnect && e.code !== 1000) view.renderState('closed', `closed by the server (${e.code}${e.reason ? ` ${e.reason}` : ''})`);
    });
    c.on('msg', (m) => this.#onMsg(m));
    c.on('change', (change) => {
      const room = this.rooms.get(change.room);
      if (room) this.changes.onChange(room, change);
    });
    c.on('gap', (g) => void this.#reload(g.room));
    c.on('presence', (p) => {
      const room = this.rooms.get(p.room);
      if (!room) return;
      if (p.status === 'offline') this.#setTyping(room, p.user, false);
      void this.refreshPresence(p.room);
    });
    c.on('typing', (t) => {
      const room = this.rooms.get(t.room);
      if (room && t.user !== this.user) this.#setTyping(room, t.user, t.on);
    });
    c.on('read', (r) => {
      const room = this.rooms.get(r.room);
      if (!room) return;
      if (r.user === this.user) {
        // Read on another device of this user.
        if (room.setRead(r.seq)) this.#renderRooms();
        return;
      }
      room.reads.set(r.user, Math.max(r.seq, room.reads.get(r.user) ?? 0));
      if (r.room === this.active) view.renderSeenBy(room, this.user);
    });
    c.on('error', (e) => view.showError(`${e.code}: ${e.message}`));
    c.on('rejoinFailed', (e) => {
      this.#drop(e.room);
      view.showError(`left #${e.room}: ${e.error.message}`);
    });
    view.renderState(c.state);
  }

  /** Joins a room (if not yet) and makes it the active one. */
  async join(name: string): Promise<void> {
    if (!ROOM_PATTERN.test(name)) {
      this.view.showError('a room name is 1-128 chars of A-Z a-z 0-9 _ . : @ -');
      return;
    }
    const known = this.rooms.get(name);
    if (known) return this.activate(name);
    const room = new RoomModel(name);
    this.rooms.set(name, room);
    this.activate(name);
    try {
      const reply = await this.client.join(name);
      room.head = Math.max(room.head, reply.head);
      room.setRead(reply.lastRead);
      room.occupancy = reply.occupancy;
      await this.#reload(name);
      void this.refreshPresence(name);
    } catch (err) {
      this.#drop(name);
      this.view.showError(`cannot join #${name}: ${describe(err)}`);
    }
  }

  async leave(name: string): Promise<void> {
    if (!this.rooms.has(name)) return;
    this.#drop(name);
    try {
      await this.client.leave(name);
    } catch (err) {
      this.view.showError(`leaving #${name}: ${describe(err)}`);
    }
  }

  activate(name: string | undefined): void {
    if (this.active !== name) this.#typing.stop();
    this.active = name;
    this.changes.roomChanged();
    const room = name === undefined ? undefined : this.rooms.get(name);
    this.view.renderRoom(room, this.user);
    this.view.scrollToBottom();
    this.view.renderTyping(room);
    this.view.renderMembers(room, this.user);
    this.#renderRooms();
    this.markRead();
  }

  async send(body: string): Promise<void> {
    const name = this.active;
    if (name === undefined || body.trim() === '') return;
    this.#typing.stop();
    if (this.changes.editing) return this.changes.finishEdit(body);
    this.view.scrollToBottom();
    try {
      await this.client.send(name, body);
    } catch (err) {
      this.view.showError(`not sent: ${describe(err)}`);
    }
  }

  typed(text: string): void {
    if (this.active !== undefined) this.#typing.input(this.active, text);
  }

  stopTyping(): void {
    this.#typing.stop();
  }

  async loadOlder(): Promise<void> {
    const room = this.#activeRoom();
    const oldest = room?.messages[0];
    if (!room || !oldest) return;
    const page = await this.client.history(room.name, { before: oldest.seq, limit: HISTORY_PAGE });
    room.add(page.messages);
    room.more = page.more;
    if (this.active === room.name) {
      const fromBottom = this.view.scroller.scrollHeight - this.view.scroller.scrollTop;
      this.view.renderRoom(room, this.user);
      this.view.scroller.scrollTop = this.view.scroller.scrollHeight - fromBottom;
    }
  }

  /** The active room is in view (tab visible, scrolled down): move the read pointer to its newest message. */
  markRead(): void {
    const room = this.#activeRoom();
    if (!room?.loaded || document.visibilityState !== 'visible' || !this.view.atBottom()) return;
    if (room.setRead(room.head)) this.#renderRooms();
    this.#sendRead(room);
  }

  async refreshPresence(name: string): Promise<void> {
    const room = this.rooms.get(name);
    if (!room) return;
    const generation = ++room.presenceGeneration;
    try {
      const reply = await this.client.presence(name);
      if (generation !== room.presenceGeneration || this.rooms.get(name) !== room) return;
      room.members = reply.members;
      room.occupancy = reply.occupancy;
      if (this.active === name) this.view.renderMembers(room, this.user);
    } catch {
      // the next push or reconnect asks again
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }

  /** A connection said hello: after a reconnect, typing states are stale and presence may have moved. */
  #onHello(): void {
    for (const room of this.rooms.values()) room.clearTyping();
    this.view.renderTyping(this.#activeRoom());
    if (this.active !== undefined) void this.refreshPresence(this.active);
  }

  #onMsg(m: ChatMessage): void {
    const room = this.rooms.get(m.room);
    if (!room) return;
    const change = room.add([m]);
    if (m.from !== this.user) this.#setTyping(room, m.from, false);
    this.#show(room, change);
    this.changes.onMessage(room, m);
    this.markRead();
    this.#renderRooms();
  }

  /** Loads the newest history page again (after a join, or a gap the SDK could not fill). */
  async #reload(name: string): Promise<void> {
    const room = this.rooms.get(name);
    if (!room) return;
    const page = await this.client.history(name, { limit: HISTORY_PAGE });
    if (this.rooms.get(name) !== room) return;
    if (room.loaded) room.clear();
    room.add(page.messages);
    room.more = page.more;
    room.loaded = true;
    this.#show(room, 'rerender');
    if (this.active === name) this.view.scrollToBottom();
    this.markRead();
    this.#renderRooms();
  }

  #sendRead(room: RoomModel): void {
    if (this.#reading.has(room.name)) return; // the reply's handler sends the newest
    const seq = room.readPointer;
    if (seq <= room.readSent) return;
    this.#reading.add(room.name);
    this.client.read(room.name, seq).then(
      (reply) => {
        this.#reading.delete(room.name);
        room.readSent = Math.max(room.readSent, reply.seq);
        if (room.setRead(reply.seq)) this.#renderRooms();
        if (room.readPointer > reply.seq && this.rooms.get(room.name) === room) this.#sendRead(room);
      },
      () => this.#reading.delete(room.name),
    );
  }

  #setTyping(room: RoomModel, user: string, on: boolean): void {
    const had = room.typing.has(user);
    room.setTyping(user, on, TYPING_LOCAL_TTL_MS, () => this.#renderTypingOf(room));
    if (had || on) this.#renderTypingOf(room);
  }

  #renderTypingOf(room: RoomModel): void {
    if (room.name === this.active) this.view.renderTyping(room);
  }

  #show(room: RoomModel, change: ListChange): void {
    if (room.name === this.active && change !== 'none') this.view.renderRoom(room, this.user, change);
  }

  #renderRooms(): void {
    this.view.renderRooms(this.rooms.values(), this.active);
  }

  #activeRoom(): RoomModel | undefined {
    return this.active === undefined ? undefined : this.rooms.get(this.active);
  }

  #drop(name: string): void {
    const room = this.rooms.get(name);
    room?.clearTyping();
    this.rooms.delete(name);
    if (this.active === name) this.activate(this.rooms.keys().next().value);
    else this.#renderRooms();
  }
}

function describe(err: unknown): string {
  if (err instanceof ParleyClientError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
