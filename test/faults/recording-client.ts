// A chat client that records everything it does and is given, for the history checker. It
// behaves as docs/protocol.md tells a client to (delivery-check.ts models exactly this): one
// connection, reconnects with capped full-jitter backoff to any gateway, joins each room with
// `since` = the highest seq it holds and its `epoch`, follows `more` with `history` `after`,
// drops pushes at or below what it holds, resends a send with the same cid until it is
// acknowledged, and renews its token with `auth` (or, if told not to, lets it expire and
// reconnects with a fresh one after the 4001).
import { backoffDelay } from '../../packages/client/src/backoff.js';
import type { JoinData, Operation, SeenMessage } from './history.js';
import { between, type Rng } from './random.js';
import { Wire, type Hello, type Push } from './wire.js';

export interface ClientPlan {
  id: string;
  user: string;
  rooms: string[];
  /** Lifetime of each token it gets. */
  tokenTtlS: number;
  /** Renew the token with `auth` before it expires; false: let it expire (close 4001) and reconnect. */
  renew: boolean;
  /** How long a ping may go unanswered before the client drops the connection as dead. */
  patienceMs: number;
}

export interface ClientDeps {
  /** The `/ws` URL of a gateway to try now, or undefined when none runs. */
  gatewayUrl(rng: Rng): string | undefined;
  token(user: string, ttlS: number): Promise<string>;
  record(op: Operation): void;
  rng: Rng;
}

const HELLO_MS = 5_000;
const REQUEST_MS = 5_000;
const PING_EVERY_MS = 2_000;
const BACKOFF = { base: 100, cap: 2_000 };
const RETRY_MS: [number, number] = [100, 600];
const MAX_PAGES = 1_000;
const RENEW_BEFORE_MS = 3_000;
const READY_POLL_MS = 500;

interface RoomView {
  epoch: string | undefined;
  max: number;
  live: boolean;
  buffer: SeenMessage[];
}

export type SendResult = 'acked' | 'abandoned' | 'stopped';

export class RecordingClient {
  private conn = 0;
  private wire: Wire | undefined;
  private readonly views = new Map<string, RoomView>();
  private stopping = false;
  private quitting = false;
  /** Waiting for the connection to be ready (sends). */
  private readonly wakers = new Set<() => void>();
  /** Pauses, cut short when the client stops. */
  private readonly sleepers = new Set<() => void>();
  private loop: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private finishBy = Infinity;
  private offlineUntil = 0;
  /** Highest seq held per room, for the settle phase. */
  readonly position = (room: string): number => this.views.get(room)?.max ?? 0;

  constructor(
    readonly plan: ClientPlan,
    private readonly deps: ClientDeps,
  ) {
    for (const room of plan.rooms) this.views.set(room, { epoch: undefined, max: 0, live: false, buffer: [] });
  }

  /** True while connected with every room joined (what presence must count). */
  get ready(): boolean {
    return this.wire !== undefined && !this.wire.closed && [...this.views.values()].every((v) => v.live);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Sends until acknowledged: resends the same cid after no reply, `overloaded` or any other
   * error, over whatever connection is up. `abandon`: give up after the first failure instead,
   * like a sender that dies (the servers must finish the message without it).
   */
  async send(room: string, cid: string, body: string, opts: { abandon?: boolean } = {}): Promise<SendResult> {
    for (let attempt = 0; ; attempt++) {
      if (this.quitting || Date.now() > this.finishBy) return 'stopped';
      const wire = await this.whenReady();
      if (!wire) return 'stopped';
      const at = Date.now();
      const outcome = await wire.request<{ seq: number; ts: number; dup: boolean }>('send', { room, cid, body }, REQUEST_MS);
      this.deps.record({ op: 'send', client: this.plan.id, conn: this.conn, at, end: Date.now(), room, from: this.plan.user, cid, body, outcome });
      if (outcome.ok) return 'acked';
      if (opts.abandon) {
        this.deps.record({ op: 'abandon', client: this.plan.id, at: Date.now(), room, from: this.plan.user, cid, body });
        return 'abandoned';
      }
      await this.pause(between(this.deps.rng, ...RETRY_MS) * Math.min(attempt + 1, 5));
    }
  }

  /** Sends in progress stop retrying at `deadline` (epoch ms) and stay unacknowledged. */
  finishSendsBy(deadline: number): void {
    this.finishBy = deadline;
  }

  /** Drops the connection without a close handshake (a network loss); the client reconnects. */
  drop(): void {
    this.wire?.terminate();
  }

  /** Drops the connection and stays away for `ms` (a phone in a tunnel); then reconnects and catches up. */
  offline(ms: number): void {
    this.offlineUntil = Date.now() + ms;
    this.drop();
  }

  /** Closes for good, as a client that went away: no longer a member that stayed joined. */
  async quit(): Promise<void> {
    this.quitting = true;
    this.deps.record({ op: 'quit', client: this.plan.id, at: Date.now() });
    await this.stop();
  }

  /** Ends the run: closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    for (const s of [...this.sleepers]) s();
    this.wire?.close();
    this.timers.forEach(clearTimeout);
    await this.loop;
  }

  private async run(): Promise<void> {
    for (let failures = 0; !this.stopping; ) {
      if (Date.now() < this.offlineUntil) await this.pause(this.offlineUntil - Date.now());
      if (this.stopping) break;
      const opened = await this.connect();
      if (!opened) {
        await this.pause(backoffDelay(failures++, { ...BACKOFF, random: this.deps.rng }));
        continue;
      }
      if (await this.joinAll(opened)) failures = 0;
      else opened.terminate();
      this.wake();
      await this.keepAlive(opened);
      await this.pause(backoffDelay(failures++, { ...BACKOFF, random: this.deps.rng }));
    }
  }

  private async connect(): Promise<Wire | undefined> {
    const url = this.deps.gatewayUrl(this.deps.rng);
    if (!url) return undefined;
    const conn = this.conn + 1;
    const token = await this.deps.token(this.plan.user, this.plan.tokenTtlS);
    const opened = await Wire.open(url, token, { push: (f) => this.onPush(conn, f), closed: (code) => this.onClosed(conn, code) }, HELLO_MS);
    if ('refused' in opened) return undefined;
    this.conn = conn;
    this.wire = opened.wire;
    this.deps.record({ op: 'open', client: this.plan.id, user: this.plan.user, conn, at: Date.now(), node: opened.hello.node, exp: opened.hello.exp });
    if (this.plan.renew) this.scheduleRenewal(opened.wire, opened.hello);
    return opened.wire;
  }

  /** Joins every room (a few attempts each); false when the connection is not worth keeping. */
  private async joinAll(wire: Wire): Promise<boolean> {
    for (const [room, view] of this.views) {
      let joined = false;
      for (let attempt = 0; attempt < 5 && !joined && !wire.closed && !this.stopping; attempt++) {
        if (attempt > 0) await this.pause(between(this.deps.rng, ...RETRY_MS));
        joined = await this.join(wire, room, view);
      }
      if (!joined) return false;
    }
    return true;
  }

  private async join(wire: Wire, room: string, view: RoomView): Promise<boolean> {
    const since = view.epoch === undefined ? 0 : view.max;
    const at = Date.now();
    const fields = { room, since, ...(view.epoch !== undefined ? { epoch: view.epoch } : {}) };
    const outcome = await wire.request<JoinData>('join', fields, REQUEST_MS);
    this.deps.record({ op: 'join', client: this.plan.id, conn: this.conn, at, end: Date.now(), ...fields, outcome });
    if (!outcome.ok) return false;
    const data = outcome.data;
    if ((view.epoch !== undefined && view.epoch !== data.epoch) || since > data.head) view.max = data.head;
    view.epoch = data.epoch;
    for (const m of data.messages) accept(view, m);
    if ((data.more || !data.recovered) && view.max < data.head) await this.fetch(wire, room, view);
    view.live = true;
    for (const m of view.buffer.splice(0)) accept(view, m);
    return true;
  }

  /** `history` with `after` until `more` is false; stops at an error or a page that brings nothing new. */
  private async fetch(wire: Wire, room: string, view: RoomView): Promise<void> {
    for (let page = 0; page < MAX_PAGES && !wire.closed; page++) {
      const after = view.max;
      const at = Date.now();
      const outcome = await wire.request<{ messages: SeenMessage[]; more: boolean }>('history', { room, after, limit: 100 }, REQUEST_MS);
      this.deps.record({ op: 'history', client: this.plan.id, conn: this.conn, at, end: Date.now(), room, after, outcome });
      if (!outcome.ok) return;
      for (const m of outcome.data.messages) accept(view, m);
      if (!outcome.data.more || view.max === after) return;
    }
  }

  /** Pings every PING_EVERY_MS; a ping unanswered for the plan's patience means a dead or frozen server. */
  private async keepAlive(wire: Wire): Promise<void> {
    while (!wire.closed && !this.stopping) {
      await this.pause(PING_EVERY_MS);
      if (wire.closed || this.stopping) break;
      const pong = await wire.request('ping', {}, this.plan.patienceMs);
      if (!pong.ok && pong.code === 'timeout') wire.terminate();
    }
  }

  private scheduleRenewal(wire: Wire, hello: Pick<Hello, 'exp'>): void {
    const inMs = Math.max(0, hello.exp * 1000 - Date.now() - RENEW_BEFORE_MS);
    this.later(inMs, async () => {
      if (wire.closed || this.stopping) return;
      const at = Date.now();
      const outcome = await wire.request<{ exp: number }>('auth', { token: await this.deps.token(this.plan.user, this.plan.tokenTtlS) }, REQUEST_MS);
      this.deps.record({ op: 'auth', client: this.plan.id, conn: this.conn, at, end: Date.now(), outcome });
      if (outcome.ok) this.scheduleRenewal(wire, outcome.data);
    });
  }

  private onPush(conn: number, frame: Push): void {
    if (frame.t !== 'msg') return;
    const room = String(frame['room']);
    const message: SeenMessage = { seq: Number(frame['seq']), cid: String(frame['cid']), from: String(frame['from']), body: String(frame['body']), ts: Number(frame['ts']) };
    this.deps.record({ op: 'msg', client: this.plan.id, conn, at: Date.now(), room, message });
    const view = this.views.get(room);
    if (!view) return;
    if (view.live) accept(view, message);
    else view.buffer.push(message);
  }

  private onClosed(conn: number, code: number): void {
    if (conn !== this.conn) return;
    this.deps.record({ op: 'close', client: this.plan.id, conn, at: Date.now(), code });
    for (const view of this.views.values()) {
      view.live = false;
      view.buffer.length = 0;
    }
    this.wake();
  }

  /** The connection once every room is joined; undefined once stopping or past `finishBy`. */
  private async whenReady(): Promise<Wire | undefined> {
    while (!this.stopping && Date.now() < this.finishBy) {
      if (this.ready) return this.wire;
      // Woken by a change of connection; the timer notices a deadline set after the wait began.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, READY_POLL_MS);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.wakers.add(done);
      });
    }
    return undefined;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
    this.wakers.clear();
  }

  private later(ms: number, fn: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers = this.timers.filter((t) => t !== timer);
      fn().catch((err: unknown) => console.error(`client ${this.plan.id}: a scheduled step failed`, err));
    }, ms);
    this.timers.push(timer);
  }

  /** Waits `ms`, or less once stopping. */
  private pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }
}

function accept(view: RoomView, m: SeenMessage): void {
  if (m.seq > view.max) view.max = m.seq;
}
