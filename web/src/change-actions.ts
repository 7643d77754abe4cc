import type { Change, ChatMessage, ParleyClient } from '../../packages/client/src/index.js';
import type { RoomModel } from './room-model.js';
import type { ChatView } from './view.js';

/** What the actions need of the page's app: the active room, and reporting. */
export interface ActionHost {
  readonly user: string;
  activeRoom(): RoomModel | undefined;
  /** Redraws the active room's messages. */
  redraw(room: RoomModel): void;
  fail(what: string, err: unknown): void;
}

/**
 * The page's message changes (docs/protocol.md, "Message changes"): editing a message in the
 * composer, deleting it, toggling reactions, and the thread panel of one message with its
 * replies. The SDK keeps each request until answered; the page draws what the `change` and `msg`
 * events fold into the room model.
 */
export class ChangeActions {
  /** The message the composer edits, if any. */
  #editing: { room: string; seq: number } | undefined;
  /** The message whose thread is open, if any. */
  #thread: { room: string; seq: number } | undefined;

  constructor(
    private readonly client: ParleyClient,
    private readonly view: ChatView,
    private readonly host: ActionHost,
  ) {}

  get editing(): boolean {
    return this.#editing !== undefined;
  }

  /** A change event: folded into its room, drawn where it shows. */
  onChange(room: RoomModel, c: Change): void {
    if (!room.change(c, this.host.user)) return;
    if (room === this.host.activeRoom()) this.host.redraw(room);
    this.#drawThread(room);
  }

  /** A message (a reply too): the thread panel shows it when it is in the open thread. */
  onMessage(room: RoomModel, m: ChatMessage): void {
    if (this.#thread?.room === room.name && (m.parent === this.#thread.seq || m.seq === this.#thread.seq)) this.#drawThread(room);
  }

  startEdit(seq: number): void {
    const room = this.host.activeRoom();
    const m = room?.find(seq);
    if (!room || !m || m.from !== this.host.user || m.deleted) return;
    this.#editing = { room: room.name, seq };
    this.view.setEditing(m.body);
  }

  cancelEdit(): void {
    this.#editing = undefined;
    this.view.setEditing(undefined);
    this.view.input.value = '';
  }

  /** The composer's text as the new body of the message being edited. */
  async finishEdit(body: string): Promise<void> {
    const target = this.#editing;
    this.cancelEdit();
    if (!target || body.trim() === '') return;
    await this.client.edit(target.room, target.seq, body).catch((err: unknown) => this.host.fail('not edited', err));
  }

  async remove(seq: number): Promise<void> {
    const room = this.host.activeRoom();
    if (!room) return;
    if (this.#editing?.seq === seq) this.cancelEdit();
    await this.client.delete(room.name, seq).catch((err: unknown) => this.host.fail('not deleted', err));
  }

  /** Adds this user's reaction, or removes it when they have it. */
  async toggleReaction(seq: number, reaction: string): Promise<void> {
    const room = this.host.activeRoom();
    if (!room) return;
    const has = room.reacted(seq, reaction, this.host.user);
    const request = has ? this.client.unreact(room.name, seq, reaction) : this.client.react(room.name, seq, reaction);
    await request.catch((err: unknown) => this.host.fail(has ? 'reaction not removed' : 'no reaction', err));
  }

  /** Opens message `seq`'s thread: its replies are fetched, then kept up to date by the events. */
  async openThread(seq: number): Promise<void> {
    const room = this.host.activeRoom();
    if (!room) return;
    this.#thread = { room: room.name, seq };
    this.#drawThread(room);
    try {
      const page = await this.client.thread(room.name, seq, { limit: 100 });
      room.add(page.messages);
      this.#drawThread(room);
    } catch (err) {
      this.host.fail('thread not loaded', err);
    }
  }

  closeThread(): void {
    this.#thread = undefined;
    this.view.renderThread(undefined, undefined, this.host.user);
  }

  async reply(body: string): Promise<void> {
    const open = this.#thread;
    if (!open || body.trim() === '') return;
    await this.client.reply(open.room, open.seq, body).catch((err: unknown) => this.host.fail('reply not sent', err));
  }

  /** The active room changed: the composer and the thread panel belong to the old one. */
  roomChanged(): void {
    if (this.#editing) this.cancelEdit();
    if (this.#thread && this.#thread.room !== this.host.activeRoom()?.name) this.closeThread();
  }

  #drawThread(room: RoomModel): void {
    if (this.#thread?.room === room.name) this.view.renderThread(room, this.#thread.seq, this.host.user);
  }
}
