/**
 * The SDK against a small fake Parley server (ws's WebSocketServer on 127.0.0.1:0) that speaks
 * enough of docs/protocol.md. Time is a manual clock injected into the client: reconnect delays,
 * timeouts, heartbeats and token refreshes happen only when a test advances it. Every wait is
 * on an event, with a deadline. (One file: the harness may live only in client-*.test.ts files.)
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { connect } from '../../packages/client/src/index.js';
import type { AuthSource, ChatMessage, ClientOptions, ParleyClient, ParleyEvents } from '../../packages/client/src/index.js';
import type { Clock } from '../../packages/client/src/timers.js';

const DEADLINE_MS = 3000;

class ManualClock implements Clock {
  #now = 1_700_000_000_000;
  #seq = 0;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): number {
    this.#timers.set(++this.#seq, { at: this.#now + ms, fn });
    return this.#seq;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get pending(): number {
    return this.#timers.size;
  }
  /** Moves time forward, running every timer due on the way (timers they set included). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = [...this.#timers].filter(([, t]) => t.at <= target).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = target;
  }
}

type Frame = { t: string; rid?: number | string } & Record<string, unknown>;
interface Conn {
  ws: WebSocket;
  token: string;
  /** The client asked for batched frames (`?batch=1`). */
  batch: boolean;
  rooms: Set<string>;
  frames: Frame[];
}
interface Room {
  epoch: string;
  head: number;
  msgs: ChatMessage[];
}
/** 'drop': no effect, no reply; 'silent': handled but not answered; an error: the reply. */
type Intercept = 'drop' | 'silent' | { code: string; message: string } | undefined;

class FakeServer {
  readonly conns: Conn[] = [];
  readonly refused: string[] = [];
  readonly rooms = new Map<string, Room>();
  readonly #dedupe = new Map<string, ChatMessage>();
  readonly #changed = new EventEmitter();
  accept: (token: string) => boolean = () => true;
  /** Refuse every upgrade with 503, as a node that is down behind a load balancer. */
  unavailable = false;
  expFor: (token: string) => number;
  heartbeat = 0;
  /** Recovered messages are also pushed as `msg`, before and after the join reply (docs/protocol.md allows both). */
  duplicateOnRejoin = false;
  /** Most messages a join reply holds (RECOVERY_MAX): the oldest after `since`, with `more`. */
  recoveryMax = Infinity;
  intercept: (conn: Conn, frame: Frame) => Intercept = () => undefined;

  private constructor(
    readonly wss: WebSocketServer,
    readonly clock: ManualClock,
  ) {
    this.expFor = () => Math.floor(clock.now() / 1000) + 3600;
    wss.on('connection', (ws, req) => this.#open(ws, new URL(req.url ?? '/', 'http://x')));
  }

  static async start(clock: ManualClock): Promise<FakeServer> {
    const server = new FakeServer(
      new WebSocketServer({
        host: '127.0.0.1',
        port: 0,
        verifyClient: (info, done) => {
          const token = new URL(info.req.url ?? '/', 'http://x').searchParams.get('token') ?? '';
          if (server.unavailable) return done(false, 503);
          if (server.accept(token)) return done(true);
          server.refused.push(token);
          server.#changed.emit('change');
          done(false, 401);
        },
      }),
      clock,
    );
    await new Promise((resolve) => server.wss.once('listening', resolve));
    return server;
  }

  get url(): string {
    const address = this.wss.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected address');
    return `ws://127.0.0.1:${address.port}`;
  }

  get last(): Conn {
    const conn = this.conns.at(-1);
    if (!conn) throw new Error('no connection yet');
    return conn;
  }

  /** Resolves with `probe()`'s first defined value, probing after every server-side change. */
  until<T>(probe: () => T | undefined | false, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value === undefined || value === false) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`server: timed out waiting for ${what}`));
      }, DEADLINE_MS);
      const done = () => {
        clearTimeout(timer);
        this.#changed.off('change', check);
      };
      this.#changed.on('change', check);
      check();
    });
  }

  /** A message from another user, as if sent on another node. */
  publish(name: string, body: string): ChatMessage {
    const room = this.#room(name);
    const m: ChatMessage = { room: name, seq: ++room.head, cid: `x${room.head}`, from: 'other', body, ts: room.head };
    room.msgs.push(m);
    this.#fanOut(m);
    return m;
  }

  /** Messages from another user in one turn: one array frame to batch clients (a read push among them). */
  publishBatch(name: string, bodies: string[]): void {
    const room = this.#room(name);
    const frames: object[] = [];
    for (const body of bodies) {
      const m: ChatMessage = { room: name, seq: ++room.head, cid: `x${room.head}`, from: 'other', body, ts: room.head };
      room.msgs.push(m);
      frames.push({ t: 'msg', ...m }, { t: 'read', room: name, user: 'other', seq: m.seq });
    }
    for (const c of this.conns) {
      if (!c.rooms.has(name) || c.ws.readyState !== WebSocket.OPEN) continue;
      if (c.batch) c.ws.send(JSON.stringify(frames));
      else for (const f of frames) c.ws.send(JSON.stringify(f));
    }
  }

  /** The room lost its state: a new epoch, the sequence starts again. */
  resetRoom(name: string, epoch: string): void {
    this.rooms.set(name, { epoch, head: 0, msgs: [] });
  }

  kick(code: number, reason = ''): void {
    for (const c of this.conns) if (c.ws.readyState === WebSocket.OPEN) c.ws.close(code, reason);
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.ws.terminate();
    await new Promise((resolve) => this.wss.close(resolve));
  }

  #open(ws: WebSocket, url: URL): void {
    const conn: Conn = { ws, token: url.searchParams.get('token') ?? '', batch: url.searchParams.get('batch') === '1', rooms: new Set(), frames: [] };
    this.conns.push(conn);
    const n = this.conns.length;
    this.#push(conn, { t: 'hello', session: `s${n}`, user: 'me', node: 'n1', exp: this.expFor(conn.token), heartbeat: this.heartbeat });
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as Frame;
      conn.frames.push(frame);
      this.#handle(conn, frame);
      this.#changed.emit('change');
    });
    ws.on('close', () => this.#changed.emit('change'));
    this.#changed.emit('change');
  }

  #handle(conn: Conn, f: Frame): void {
    const intercepted = this.intercept(conn, f);
    if (intercepted === 'drop') return;
    const answer = (data: object) => {
      if (intercepted !== 'silent') this.#push(conn, { t: 'reply', rid: f.rid, ok: true, data });
    };
    if (typeof intercepted === 'object') return this.#push(conn, { t: 'reply', rid: f.rid, ok: false, error: intercepted });
    const name = String(f.room);
    if (['send', 'history'].includes(f.t) && !conn.rooms.has(name)) {
      return this.#push(conn, { t: 'reply', rid: f.rid, ok: false, error: { code: 'not_joined', message: name } });
    }
    if (f.t === 'join') return this.#join(conn, f, answer);
    if (f.t === 'send') return answer(this.#send(f));
    if (f.t === 'leave') conn.rooms.delete(name);
    if (f.t === 'auth') conn.token = String(f.token);
    if (f.t === 'history') return answer(this.#history(name, f));
    answer(f.t === 'auth' ? { exp: this.expFor(conn.token) } : f.t === 'leave' ? { room: name } : {});
  }

  #join(conn: Conn, f: Frame, answer: (data: object) => void): void {
    const name = String(f.room);
    const room = this.#room(name);
    conn.rooms.add(name);
    const since = typeof f.since === 'number' ? f.since : undefined;
    const recovering = since !== undefined && since <= room.head && (f.epoch === undefined || f.epoch === room.epoch);
    const missed = recovering ? room.msgs.filter((m) => m.seq > since) : [];
    const messages = missed.slice(0, this.recoveryMax);
    const more = messages.length < missed.length;
    if (this.duplicateOnRejoin) for (const m of messages) this.#push(conn, { t: 'msg', ...m });
    answer({ room: name, epoch: room.epoch, head: room.head, lastRead: 0, unread: 0, occupancy: 1, messages, recovered: recovering && !more, more });
    if (this.duplicateOnRejoin) for (const m of messages) this.#push(conn, { t: 'msg', ...m });
  }

  /** `history`: the oldest above `after` (more: newer ones exist), or the newest 50. */
  #history(name: string, f: Frame): object {
    const msgs = this.#room(name).msgs;
    if (typeof f.after !== 'number') return { room: name, messages: msgs.slice(-50), more: false };
    const above = msgs.filter((m) => m.seq > Number(f.after));
    const limit = typeof f.limit === 'number' ? f.limit : 50;
    return { room: name, messages: above.slice(0, limit), more: above.length > limit };
  }

  #send(f: Frame): object {
    const name = String(f.room);
    const key = `${name}\n${String(f.cid)}`;
    const first = this.#dedupe.get(key);
    if (first) return { room: name, cid: first.cid, seq: first.seq, ts: first.ts, dup: true };
    const room = this.#room(name);
    const m: ChatMessage = { room: name, seq: ++room.head, cid: String(f.cid), from: 'me', body: String(f.body), ts: room.head };
    room.msgs.push(m);
    this.#dedupe.set(key, m);
    this.#fanOut(m);
    return { room: name, cid: m.cid, seq: m.seq, ts: m.ts, dup: false };
  }

  #room(name: string): Room {
    let room = this.rooms.get(name);
    if (!room) this.rooms.set(name, (room = { epoch: 'e1', head: 0, msgs: [] }));
    return room;
  }

  #fanOut(m: ChatMessage): void {
    for (const c of this.conns) if (c.rooms.has(m.room)) this.#push(c, { t: 'msg', ...m });
  }

  #push(conn: Conn, frame: object): void {
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(JSON.stringify(frame));
  }
}

/** The next `type` event whose payload passes `pred` (registered now: call before the trigger). */
function next<K extends keyof ParleyEvents>(
  client: ParleyClient,
  type: K,
  pred: (payload: ParleyEvents[K]) => boolean = () => true,
): Promise<ParleyEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`client: timed out waiting for '${String(type)}'`));
    }, DEADLINE_MS);
    const off = client.on(type, (payload) => {
      if (!pred(payload)) return;
      off();
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

let server: FakeServer;
let clock: ManualClock;
const clients: ParleyClient[] = [];

async function setup(auth: AuthSource = { token: 't1' }, options: ClientOptions = {}, configure?: (s: FakeServer) => void) {
  clock = new ManualClock();
  server = await FakeServer.start(clock);
  configure?.(server);
  const client = connect(server.url, auth, { WebSocket, clock, random: () => 0.5, ...options });
  clients.push(client);
  const msgs: ChatMessage[] = [];
  client.on('msg', (m) => msgs.push(m));
  if (client.state !== 'open') await next(client, 'state', (s) => s === 'open');
  return { client, msgs };
}

/** Waits for the scheduled reconnect, runs it, and waits until the client is open again. */
async function reconnect(client: ParleyClient, trigger: () => void): Promise<{ attempt: number; delay: number }> {
  const scheduled = next(client, 'reconnect');
  trigger();
  const event = await scheduled;
  const opened = next(client, 'state', (s) => s === 'open');
  clock.advance(event.delay);
  await opened;
  return event;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.stop();
});

describe('ParleyClient against a fake server', () => {
  it('connects to /ws with ?token=, and answers requests with their reply data', async () => {
    const { client } = await setup();
    expect(server.last.token).toBe('t1');
    expect(client.session).toMatchObject({ session: 's1', user: 'me', heartbeat: 0 });
    await expect(client.join('r')).resolves.toMatchObject({ room: 'r', epoch: 'e1', head: 0, recovered: false });
    const sent = await client.send('r', 'hello', { k: 1 });
    expect(sent).toMatchObject({ room: 'r', seq: 1, dup: false });
    expect(sent.cid).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    expect((await client.history('r', { limit: 10 })).messages.map((m) => m.body)).toEqual(['hello']);
    await expect(client.ping()).resolves.toEqual({});
    expect(server.last.frames.map((f) => f.rid)).toEqual([1, 2, 3, 4]);
  });

  it('asks for batched frames and takes an array frame element by element, in order', async () => {
    const { client, msgs } = await setup();
    expect(server.last.batch).toBe(true);
    await client.join('r');
    const reads: number[] = [];
    client.on('read', (e) => reads.push(e.seq));
    const third = next(client, 'msg', (m) => m.seq === 3);
    server.publishBatch('r', ['a', 'b', 'c']);
    await third;
    expect(msgs.map((m) => [m.seq, m.body])).toEqual([[1, 'a'], [2, 'b'], [3, 'c']]);
    expect(reads).toEqual([1, 2, 3]);
  });

  it('with batch: false, connects without ?batch=1 and gets one frame per push', async () => {
    const { client, msgs } = await setup({ token: 't1' }, { batch: false });
    expect(server.last.batch).toBe(false);
    await client.join('r');
    const second = next(client, 'msg', (m) => m.seq === 2);
    server.publishBatch('r', ['a', 'b']);
    await second;
    expect(msgs.map((m) => m.body)).toEqual(['a', 'b']);
  });

  it('rejects with the protocol error code, and with timeout when no reply comes', async () => {
    const { client } = await setup();
    await expect(client.history('nope')).rejects.toMatchObject({ name: 'ParleyClientError', code: 'not_joined' });
    server.intercept = (_c, f) => (f.t === 'ping' ? 'drop' : undefined);
    const ping = client.ping();
    await server.until(() => server.last.frames.some((f) => f.t === 'ping'), 'the ping');
    clock.advance(10_000);
    await expect(ping).rejects.toMatchObject({ code: 'timeout', retryable: true });
  });

  it.each([4003, 1009, 4400])('does not reconnect after close %i', async (code) => {
    const { client } = await setup();
    await client.join('r');
    server.intercept = (_c, f) => (f.t === 'send' ? 'silent' : undefined);
    const send = client.send('r', 'x');
    await server.until(() => server.last.frames.some((f) => f.t === 'send'), 'the send');
    const closed = next(client, 'close');
    server.kick(code, 'bye');
    await expect(closed).resolves.toEqual({ code, reason: 'bye', willReconnect: false });
    expect(client.state).toBe('closed');
    await expect(send).rejects.toMatchObject({ code: 'closed', closeCode: code });
    expect(clock.pending).toBe(0); // nothing left to run: no reconnect is planned
    await expect(client.ping()).rejects.toMatchObject({ code: 'closed' });
  });

  it('1001: reconnects at once (jitter within the base) and rejoins, except rooms left', async () => {
    const { client } = await setup();
    await client.join('r');
    await client.join('gone');
    await expect(client.leave('gone')).resolves.toEqual({ room: 'gone' });
    const states: string[] = [];
    client.on('state', (s) => states.push(s));
    const event = await reconnect(client, () => server.kick(1001, 'draining'));
    expect(event).toEqual({ attempt: 0, delay: 250 });
    expect(states).toEqual(['reconnecting', 'open']);
    await client.ping(); // calls wait for the rejoins: the ping comes after them
    expect(server.last.frames.map((f) => [f.t, f.room])).toEqual([['join', 'r'], ['ping', undefined]]);
    expect(server.conns).toHaveLength(2);
  });

  it('backs off exponentially while the server is unavailable, and starts over after a hello', async () => {
    const { client } = await setup(undefined, { random: () => 0.999 });
    server.unavailable = true;
    const events: { attempt: number; delay: number }[] = [];
    client.on('reconnect', (e) => events.push(e));
    let scheduled = reconnectScheduled(client, () => server.kick(4029));
    for (let i = 0; i < 8; i++) {
      const { delay } = await scheduled;
      scheduled = next(client, 'reconnect');
      clock.advance(delay); // the attempt fails: its 503 schedules the next one
    }
    await scheduled;
    expect(events.map((e) => e.attempt)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.map((e) => e.delay)).toEqual([499, 999, 1998, 3996, 7992, 15_984, 29_970, 29_970, 29_970]);
    expect(client.state).toBe('reconnecting');
    server.unavailable = false;
    const opened = next(client, 'state', (s) => s === 'open');
    clock.advance(29_970);
    await opened;
    await expect(reconnectScheduled(client, () => server.kick(4029))).resolves.toEqual({ attempt: 0, delay: 499 });
  });

  it('4008: reconnects only after a backoff of at least the 4 s window', async () => {
    const { client } = await setup();
    const event = await reconnect(client, () => server.kick(4008));
    expect(event).toEqual({ attempt: 3, delay: 2000 });
  });

  it('4001 with a static token: stops', async () => {
    const { client } = await setup({ token: 'old' });
    const closed = next(client, 'state', (s) => s === 'closed');
    server.kick(4001, 'expired');
    await closed;
    expect(clock.pending).toBe(0);
  });

  it('an HTTP 401 on upgrade with a static token: stops', async () => {
    const { client } = await setup({ token: 'old' });
    server.accept = () => false;
    const closed = next(client, 'state', (s) => s === 'closed');
    clock.advance((await reconnectScheduled(client, () => server.kick(1001))).delay);
    await closed;
    expect(server.refused).toEqual(['old']);
    expect(clock.pending).toBe(0);
  });

  it('4001 with getToken: gets a new token first, then reconnects with it', async () => {
    let n = 0;
    const { client } = await setup({ getToken: () => Promise.resolve(`tok${++n}`) });
    expect(server.last.token).toBe('tok1');
    await reconnect(client, () => server.kick(4001, 'expired'));
    expect(n).toBe(2);
    expect(server.last.token).toBe('tok2');
  });

  it('an HTTP 401 on upgrade is treated like 4001', async () => {
    let n = 0;
    const { client } = await setup({ getToken: () => Promise.resolve(`tok${++n}`) });
    server.accept = (token) => token !== 'tok1';
    const refused = next(client, 'close', (e) => e.code === 4001 && e.reason === 'unauthorized');
    clock.advance((await reconnectScheduled(client, () => server.kick(1001))).delay);
    await refused;
    expect(server.refused).toEqual(['tok1']);
    const opened = next(client, 'state', (s) => s === 'open');
    clock.advance(30_000);
    await opened;
    expect(server.last.token).toBe('tok2');
  });

  it('resumes with since and epoch, in order, dropping duplicates', async () => {
    const { client, msgs } = await setup();
    await client.join('r');
    for (const b of ['a', 'b', 'c']) server.publish('r', b);
    await received(client, msgs, 3);
    server.duplicateOnRejoin = true;
    const scheduled = next(client, 'reconnect');
    server.kick(4029, 'slow');
    const { delay } = await scheduled;
    for (const b of ['d', 'e']) server.publish('r', b);
    clock.advance(delay);
    const rejoin = await server.until(() => server.conns[1]?.frames.find((f) => f.t === 'join'), 'the rejoin');
    expect(rejoin).toMatchObject({ room: 'r', since: 3, epoch: 'e1' });
    server.publish('r', 'f');
    await received(client, msgs, 6);
    expect(msgs.map((m) => `${m.seq}${m.body}`)).toEqual(['1a', '2b', '3c', '4d', '5e', '6f']);
    expect(client.position('r')).toEqual({ epoch: 'e1', seq: 6 });
  });

  it('emits gap when the rejoin is not recovered, and restarts from the new head/epoch', async () => {
    const { client, msgs } = await setup();
    await client.join('r');
    server.publish('r', 'a');
    server.publish('r', 'b');
    await received(client, msgs, 2);
    const gap = next(client, 'gap');
    await reconnect(client, () => {
      server.resetRoom('r', 'e2');
      server.publish('r', 'new1');
      server.kick(1001);
    });
    await expect(gap).resolves.toEqual({ room: 'r', epoch: 'e2', head: 1, messages: [], changes: [] });
    const after = next(client, 'msg');
    server.publish('r', 'new2');
    await expect(after).resolves.toMatchObject({ seq: 2, body: 'new2' });
    expect(client.position('r')).toEqual({ epoch: 'e2', seq: 2 });
  });
});

/** Resolves once `msgs` (filled by a 'msg' listener added earlier) holds `n` messages. */
async function received(client: ParleyClient, msgs: ChatMessage[], n: number): Promise<void> {
  if (msgs.length < n) await next(client, 'msg', () => msgs.length >= n);
}

/** Runs `trigger` and resolves with the reconnect it schedules. */
function reconnectScheduled(client: ParleyClient, trigger: () => void) {
  const scheduled = next(client, 'reconnect');
  trigger();
  return scheduled;
}

describe('ParleyClient catch-up after a join reply with more', () => {
  it('fetches the rest with history after, pages of 100, each message once and in order, then the live ones', async () => {
    const { client, msgs } = await setup();
    await client.join('r');
    server.publish('r', 'a');
    await received(client, msgs, 1);
    server.recoveryMax = 3;
    let pages = 0;
    // A live message arrives while the second page is on its way: it waits for the catch-up.
    server.intercept = (_c, f) => {
      if (f.t === 'history' && ++pages === 2) server.publish('r', 'live');
      return undefined;
    };
    await reconnect(client, () => {
      server.kick(1001);
      for (let i = 0; i < 250; i++) server.publish('r', `m${i}`);
    });
    await received(client, msgs, 252);
    const histories = server.last.frames.filter((f) => f.t === 'history');
    expect(histories.map((f) => [f.after, f.limit])).toEqual([[4, 100], [104, 100], [204, 100]]);
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: 252 }, (_, i) => i + 1));
    expect(msgs.at(-1)?.body).toBe('live');
    server.publish('r', 'after');
    await received(client, msgs, 253);
    expect(client.position('r')).toEqual({ epoch: 'e1', seq: 253 });
  });

  it('a join call resolves once the catch-up is over; a rate_limited page is retried after a backoff', async () => {
    const { client, msgs } = await setup();
    for (let i = 0; i < 150; i++) server.publish('r', `m${i}`);
    server.recoveryMax = 10;
    let refusals = 1;
    server.intercept = (_c, f) => (f.t === 'history' && refusals-- > 0 ? { code: 'rate_limited', message: 'slow down' } : undefined);
    const joined = client.join('r', { since: 0 });
    await server.until(() => server.last.frames.some((f) => f.t === 'history'), 'the first page');
    // The refusal came before these replies (the second one in a later read than the refusal):
    // the retry now waits for its backoff.
    await client.ping();
    await client.ping();
    expect(msgs).toHaveLength(10);
    clock.advance(249); // attempt 0, random 0.5: 250 ms
    await client.ping();
    await client.ping();
    expect(server.last.frames.filter((f) => f.t === 'history')).toHaveLength(1);
    clock.advance(1);
    await expect(joined).resolves.toMatchObject({ more: true, recovered: false });
    expect(msgs.map((m) => m.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(server.last.frames.filter((f) => f.t === 'history').map((f) => f.after)).toEqual([10, 10, 110]);
  });
});

describe('ParleyClient large replies', () => {
  it('rejoins with since at most 4 at a time, so their replies cannot pile up past the slow-consumer limit', async () => {
    const { client } = await setup();
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    for (const name of names) await client.join(name);
    // Each rejoin is held; `answered` is how many were answered when each one arrived.
    const held: { frame: Frame; answered: number }[] = [];
    let answered = 0;
    server.intercept = (_c, f) => (f.t === 'join' ? (held.push({ frame: f, answered }), 'drop') : undefined);
    const answer = (f: Frame) => {
      answered++;
      const data = { room: f.room, epoch: 'e1', head: 0, lastRead: 0, unread: 0, occupancy: 1, messages: [], recovered: true, more: false };
      server.last.ws.send(JSON.stringify({ t: 'reply', rid: f.rid, ok: true, data }));
    };
    const { delay } = await reconnectScheduled(client, () => server.kick(1001));
    clock.advance(delay);
    for (let i = 0; i < names.length; i++) {
      const next = await server.until(() => held[i], `rejoin ${i + 1}`);
      expect(next.frame).toMatchObject({ since: 0 });
      if (i >= 3) answer(held[i - 3]!.frame);
    }
    for (const h of held.slice(-3)) answer(h.frame);
    await client.ping();
    expect(held.map((h) => h.answered)).toEqual([0, 0, 0, 0, 1, 2]);
  });
});

describe('ParleyClient outbox', () => {
  it('resends an unacknowledged send after the rejoin with the same cid, and settles it once', async () => {
    const { client, msgs } = await setup();
    await client.join('r');
    server.intercept = (_c, f) => (f.t === 'send' ? 'silent' : undefined); // stored and pushed, reply lost
    const results: unknown[] = [];
    const send = client.send('r', 'hi');
    send.then((r) => results.push(r), (e: unknown) => results.push(e));
    const first = await server.until(() => server.last.frames.find((f) => f.t === 'send'), 'the send');
    server.intercept = () => undefined;
    await reconnect(client, () => server.kick(1001));
    await expect(send).resolves.toEqual({ room: 'r', cid: first.cid, seq: 1, ts: 1, dup: true });
    expect(server.last.frames.map((f) => [f.t, f.cid])).toEqual([['join', undefined], ['send', first.cid]]);
    await client.ping();
    expect(results).toHaveLength(1);
    expect(msgs.map((m) => m.seq)).toEqual([1]);
    expect(server.rooms.get('r')?.msgs).toHaveLength(1);
  });

  it('holds calls made while reconnecting, then sends them in order after the rejoins', async () => {
    const { client } = await setup();
    await client.join('r');
    const scheduled = reconnectScheduled(client, () => server.kick(4029));
    const { delay } = await scheduled;
    expect(client.state).toBe('reconnecting');
    const sendR = client.send('r', 'one', undefined, { cid: 'my-cid' });
    const joinB = client.join('b');
    const sendB = client.send('b', 'two');
    clock.advance(delay);
    await expect(sendR).resolves.toMatchObject({ cid: 'my-cid', seq: 1, dup: false });
    await expect(joinB).resolves.toMatchObject({ room: 'b' });
    await expect(sendB).resolves.toMatchObject({ room: 'b', seq: 1, dup: false });
    expect(server.last.frames.map((f) => `${f.t}:${String(f.room)}`)).toEqual(['join:r', 'send:r', 'join:b', 'send:b']);
  });

  it('rejects a send refused with a final code, and drops it from the outbox', async () => {
    const { client } = await setup();
    await client.join('r');
    server.intercept = (_c, f) => (f.t === 'send' ? { code: 'forbidden', message: 'read-only' } : undefined);
    await expect(client.send('r', 'x')).rejects.toMatchObject({ code: 'forbidden', retryable: false });
    await expect(client.send('r', 'x'.repeat(70_000))).rejects.toMatchObject({ code: 'too_large' });
    await reconnect(client, () => server.kick(1001));
    await client.ping();
    expect(server.last.frames.map((f) => f.t)).toEqual(['join', 'ping']);
  });

  it('retries a send refused with rate_limited after a backoff, with the same cid', async () => {
    const { client } = await setup();
    await client.join('r');
    let refusals = 1;
    server.intercept = (_c, f) => (f.t === 'send' && refusals-- > 0 ? { code: 'rate_limited', message: 'slow down' } : undefined);
    const send = client.send('r', 'x');
    const sends = () => server.last.frames.filter((f) => f.t === 'send');
    await server.until(() => sends().length === 1, 'the first send');
    await client.ping(); // its reply comes after the refusal: the retry is now scheduled
    clock.advance(249); // attempt 0, random 0.5: 250 ms
    await client.ping();
    expect(sends()).toHaveLength(1);
    clock.advance(1);
    await expect(send).resolves.toMatchObject({ seq: 1, dup: false });
    expect(sends().map((f) => f.cid)).toEqual([sends()[0]?.cid, sends()[0]?.cid]);
  });

  it('rejects other requests in flight at a disconnect with the retryable `disconnected`', async () => {
    const { client } = await setup();
    await client.join('r');
    server.intercept = (_c, f) => (f.t === 'history' ? 'drop' : undefined);
    const history = expect(client.history('r')).rejects.toMatchObject({ code: 'disconnected', retryable: true });
    await server.until(() => server.last.frames.some((f) => f.t === 'history'), 'the history request');
    server.kick(4029);
    await history;
  });
});

describe('ParleyClient token, heartbeat and close', () => {
  it('refreshes the token with getToken and auth before exp, and reconnects with the new one', async () => {
    let n = 0;
    const getToken = () => Promise.resolve(`tok${++n}`);
    const { client } = await setup({ getToken }, {}, (s) => (s.expFor = () => Math.floor(s.clock.now() / 1000) + 60));
    const auths = () => server.last.frames.filter((f) => f.t === 'auth').map((f) => f.token);
    clock.advance(29_999); // 60 s left: refresh 30 s before exp
    expect(n).toBe(1);
    clock.advance(1);
    expect(n).toBe(2);
    await server.until(() => auths().length === 1, 'the auth');
    await client.ping(); // the auth reply (exp now + 60 s) is in: the next refresh is planned
    clock.advance(30_000);
    await server.until(() => auths().length === 2, 'the second auth');
    expect(auths()).toEqual(['tok2', 'tok3']);
    await client.ping();
    await reconnect(client, () => server.kick(1001));
    expect(server.last.token).toBe('tok3');
    expect(n).toBe(3);
  });

  it('pings after a heartbeat without frames, and reconnects after two', async () => {
    const { client } = await setup(undefined, {}, (s) => (s.heartbeat = 1));
    server.intercept = (_c, f) => (f.t === 'ping' ? 'drop' : undefined);
    const pings = () => server.conns[0]?.frames.filter((f) => f.t === 'ping').length ?? 0;
    clock.advance(999);
    expect(pings()).toBe(0);
    clock.advance(1);
    await server.until(() => pings() === 1, 'the heartbeat ping');
    const closed = next(client, 'close');
    await reconnect(client, () => clock.advance(1000));
    await expect(closed).resolves.toEqual({ code: 4000, reason: 'heartbeat timeout', willReconnect: true });
    expect(server.conns).toHaveLength(2);
  });

  it('a heartbeat answered keeps the connection', async () => {
    const { client } = await setup(undefined, {}, (s) => (s.heartbeat = 1));
    const pings = () => server.last.frames.filter((f) => f.t === 'ping').length;
    for (let i = 1; i <= 3; i++) {
      clock.advance(1000);
      await server.until(() => pings() === 2 * i - 1, `heartbeat ping ${i}`);
      await client.ping(); // a barrier: the heartbeat's reply is in too
    }
    expect(client.state).toBe('open');
    expect(server.conns).toHaveLength(1);
  });

  it('close() closes with 1000 for good and rejects what is pending', async () => {
    const { client } = await setup();
    await client.join('r');
    server.intercept = (_c, f) => (f.t === 'send' ? 'drop' : undefined);
    const send = expect(client.send('r', 'x')).rejects.toMatchObject({ code: 'closed' });
    await server.until(() => server.last.frames.some((f) => f.t === 'send'), 'the send');
    const seen = new Promise<number>((resolve) => server.last.ws.once('close', resolve));
    const closed = next(client, 'close');
    await client.close();
    await send;
    await expect(closed).resolves.toEqual({ code: 1000, reason: 'client closed', willReconnect: false });
    expect(await seen).toBe(1000);
    expect(client.state).toBe('closed');
    expect(clock.pending).toBe(0);
    await expect(client.send('r', 'y')).rejects.toMatchObject({ code: 'closed' });
  });
});
