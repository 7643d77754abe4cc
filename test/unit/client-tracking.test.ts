import { describe, expect, it } from 'vitest';
import { Emitter } from '../../packages/client/src/emitter.js';
import { ParleyClientError } from '../../packages/client/src/errors.js';
import { Outbox, isValidCid, newCid } from '../../packages/client/src/outbox.js';
import { RoomTracker } from '../../packages/client/src/rooms.js';
import type { GapEvent } from '../../packages/client/src/rooms.js';
import { TimerGroup } from '../../packages/client/src/timers.js';
import { endpointUrl, parseFrames } from '../../packages/client/src/transport.js';
import type { JoinReply } from '../../packages/client/src/reply-types.js';
import type { ChatMessage } from '../../packages/client/src/types.js';

const msg = (seq: number, room = 'r'): ChatMessage => ({ room, seq, cid: `c${seq}`, from: 'u', body: `m${seq}`, ts: seq });
const reply = (over: Partial<JoinReply>): JoinReply => ({
  room: 'r',
  epoch: 'e1',
  head: 0,
  lastRead: 0,
  unread: 0,
  occupancy: 1,
  messages: [],
  changes: [],
  recovered: false,
  more: false,
  ...over,
});

function tracker() {
  const seen: number[] = [];
  const gaps: GapEvent[] = [];
  const rooms = new RoomTracker({ msg: (m) => seen.push(m.seq), change: (c) => seen.push(c.seq), gap: (g) => gaps.push(g) });
  return { rooms, seen, gaps };
}

describe('RoomTracker', () => {
  it('a fresh join starts at the head and drops msgs not above it', () => {
    const { rooms, seen } = tracker();
    const ticket = rooms.beginJoin('r');
    expect(ticket.since).toBeUndefined();
    rooms.applyJoin(ticket, reply({ head: 5 }));
    for (const s of [4, 5, 6, 6, 7]) rooms.onEvent(msg(s));
    expect(seen).toEqual([6, 7]);
    expect(rooms.position('r')).toEqual({ epoch: 'e1', seq: 7 });
  });

  it('a rejoin asks since/epoch, delivers the reply first, then what was buffered meanwhile', () => {
    const { rooms, seen } = tracker();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 2 }));
    rooms.disconnected();
    const ticket = rooms.beginJoin('r');
    expect(ticket).toMatchObject({ since: 2, epoch: 'e1' });
    rooms.onEvent(msg(5)); // live push racing the recovery
    rooms.onEvent(msg(4));
    rooms.applyJoin(ticket, reply({ head: 5, recovered: true, messages: [msg(3), msg(4), msg(5)] }));
    rooms.onEvent(msg(5));
    rooms.onEvent(msg(6));
    expect(seen).toEqual([3, 4, 5, 6]);
  });

  it('recovered:false emits a gap and restarts from the reply head and epoch', () => {
    const { rooms, seen, gaps } = tracker();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 9 }));
    rooms.disconnected();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ epoch: 'e2', head: 1, recovered: false }));
    expect(gaps).toEqual([{ room: 'r', epoch: 'e2', head: 1, messages: [], changes: [] }]);
    rooms.onEvent(msg(1));
    rooms.onEvent(msg(2));
    expect(seen).toEqual([2]);
    expect(rooms.position('r')).toEqual({ epoch: 'e2', seq: 2 });
  });

  it('a rejoin reply with more: its run, then history pages, then the pushes held back meanwhile', () => {
    const { rooms, seen, gaps } = tracker();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 2 }));
    rooms.disconnected();
    const ticket = rooms.beginJoin('r');
    const page = (seqs: number[], more: boolean) => ({ room: 'r', messages: seqs.map((s) => msg(s)), changes: [], more });
    expect(rooms.applyJoin(ticket, reply({ head: 9, more: true, messages: [msg(3), msg(4)] }))).toBe(true);
    rooms.onEvent(msg(10)); // live pushes during the catch-up wait
    rooms.onEvent(msg(6));
    expect(seen).toEqual([3, 4]);
    expect(rooms.position('r')?.seq).toBe(4); // the next page asks after 4
    expect(rooms.applyPage(ticket, 'e1', page([5, 6, 7], true))).toBe(true);
    expect(rooms.applyPage(ticket, 'e1', page([8, 9], false))).toBe(false);
    rooms.onEvent(msg(11));
    expect(seen).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(gaps).toEqual([]);
  });

  it('a catch-up page that skips seqs the server lost is a gap; a refused one ends in a gap to the head', () => {
    const { rooms, seen, gaps } = tracker();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 1 }));
    rooms.disconnected();
    const ticket = rooms.beginJoin('r');
    expect(rooms.applyJoin(ticket, reply({ head: 20, more: true, messages: [msg(2)] }))).toBe(true);
    expect(rooms.applyPage(ticket, 'e1', { room: 'r', messages: [msg(5), msg(6)], changes: [], more: true })).toBe(true);
    expect(gaps).toEqual([{ room: 'r', epoch: 'e1', head: 4, messages: [], changes: [] }]);
    rooms.onEvent(msg(21));
    rooms.abandonCatchUp(ticket, 'e1', 20);
    expect(gaps.at(-1)).toEqual({ room: 'r', epoch: 'e1', head: 20, messages: [], changes: [] });
    expect(seen).toEqual([2, 5, 6, 21]);
  });

  it('more without a run from since + 1 (history lost below it) is a gap, as before', () => {
    const { rooms, seen, gaps } = tracker();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 1 }));
    rooms.disconnected();
    expect(rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 50, more: true, messages: [msg(30)] }))).toBe(false);
    expect(gaps).toEqual([{ room: 'r', epoch: 'e1', head: 50, messages: [msg(30)], changes: [] }]);
    expect(seen).toEqual([]);
  });

  it('a catch-up cut by a disconnect is void: the next rejoin asks since the highest seq delivered', () => {
    const { rooms, seen } = tracker();
    rooms.applyJoin(rooms.beginJoin('r'), reply({ head: 0 }));
    rooms.disconnected();
    const ticket = rooms.beginJoin('r');
    rooms.applyJoin(ticket, reply({ head: 9, more: true, messages: [msg(1), msg(2)] }));
    rooms.disconnected();
    expect(rooms.applyPage(ticket, 'e1', { room: 'r', messages: [msg(3)], changes: [], more: true })).toBe(false);
    expect(seen).toEqual([1, 2]);
    expect(rooms.beginJoin('r')).toMatchObject({ since: 2, epoch: 'e1' });
  });

  it('ignores replies from a connection that dropped, and forgets rooms never joined', () => {
    const { rooms, seen } = tracker();
    const stale = rooms.beginJoin('r');
    rooms.disconnected();
    rooms.applyJoin(stale, reply({ head: 3 }));
    expect(rooms.has('r')).toBe(false);
    rooms.onEvent(msg(4));
    expect(seen).toEqual([]);
  });

  it('a failed first join forgets the room; leave stops delivery and rejoin', () => {
    const { rooms, seen } = tracker();
    rooms.abortJoin(rooms.beginJoin('a'));
    expect(rooms.has('a')).toBe(false);
    rooms.applyJoin(rooms.beginJoin('b'), reply({ room: 'b', head: 0 }));
    expect(rooms.joinedRooms()).toEqual(['b']);
    rooms.forget('b');
    rooms.onEvent(msg(1, 'b'));
    expect(rooms.joinedRooms()).toEqual([]);
    expect(seen).toEqual([]);
  });
});

describe('Outbox', () => {
  it('makes cids of 21 chars of [A-Za-z0-9_-], all different', () => {
    const cids = new Set(Array.from({ length: 1000 }, () => newCid()));
    expect(cids.size).toBe(1000);
    for (const cid of cids) expect(cid).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(isValidCid('a'.repeat(64))).toBe(true);
    expect(isValidCid('a'.repeat(65))).toBe(false);
    expect(isValidCid('no spaces')).toBe(false);
  });

  it('settles each entry once and shares an entry sent twice with the same cid', async () => {
    const outbox = new Outbox();
    const a = outbox.add('r', 'c1', 'send', { body: 'hi' });
    expect(outbox.add('r', 'c1', 'send', { body: 'hi' })).toBe(a);
    expect(outbox.add('other', 'c1', 'send', { body: 'hi' })).not.toBe(a);
    const data = { room: 'r', cid: 'c1', seq: 1, ts: 1, dup: false };
    outbox.resolve(a, data);
    outbox.resolve(a, { ...data, seq: 2 });
    outbox.reject(a, new ParleyClientError('internal', 'late'));
    await expect(a.promise).resolves.toEqual(data);
    expect(outbox.size).toBe(1);
  });

  it('requeues what was in flight, oldest first', () => {
    const outbox = new Outbox();
    const [a, b, c] = ['1', '2', '3'].map((cid) => outbox.add(cid === '2' ? 's' : 'r', cid, 'send', { body: 'x' }));
    a!.status = 'inflight';
    b!.status = 'waiting';
    expect(outbox.queued().map((e) => e.cid)).toEqual(['3']);
    outbox.requeueAll();
    expect(outbox.queued().map((e) => e.cid)).toEqual(['1', '2', '3']);
    expect(outbox.queued('r')).toEqual([a, c]);
  });
});

describe('Emitter', () => {
  it('calls listeners in order, once() only once, and off() removes', () => {
    const e = new Emitter<{ n: number }>();
    const got: string[] = [];
    const off = e.on('n', (n) => got.push(`a${n}`));
    e.once('n', (n) => got.push(`b${n}`));
    e.emit('n', 1);
    off();
    e.emit('n', 2);
    expect(got).toEqual(['a1', 'b1']);
  });
});

describe('TimerGroup.sleep', () => {
  it('resolves after its delay, or at once when the group is cleared', async () => {
    const timers = new Map<number, () => void>();
    const clock = { now: () => 0, setTimeout: (fn: () => void) => (timers.set(timers.size + 1, fn), timers.size), clearTimeout: (h: unknown) => timers.delete(h as number) };
    const group = new TimerGroup(clock);
    const woke: string[] = [];
    void group.sleep(100).then(() => woke.push('timer'));
    timers.get(1)?.();
    void group.sleep(100).then(() => woke.push('cleared'));
    group.clear();
    await Promise.resolve();
    expect(woke).toEqual(['timer', 'cleared']);
    expect(timers.size).toBe(1); // the second timer was cancelled
  });
});

describe('endpointUrl', () => {
  it('targets /ws with the token in ?token=', () => {
    expect(endpointUrl('ws://h:1', 'a.b.c')).toBe('ws://h:1/ws?token=a.b.c&batch=1');
    expect(endpointUrl('https://h/chat/', 't')).toBe('wss://h/chat/ws?token=t&batch=1');
    expect(endpointUrl('ws://h/ws?x=1', 't t')).toBe('ws://h/ws?x=1&token=t+t&batch=1');
    expect(endpointUrl('ws://h/ws?batch=1', 't', false)).toBe('ws://h/ws?token=t');
    expect(() => endpointUrl('ftp://h', 't')).toThrow(TypeError);
  });
});

describe('parseFrames', () => {
  it('takes one frame object, or the frames of an array in order; skips what is not a frame', () => {
    expect(parseFrames('{"t":"msg","seq":1}')).toEqual([{ t: 'msg', seq: 1 }]);
    expect(parseFrames('[{"t":"msg","seq":1},{"t":"read","seq":1},{"t":"msg","seq":2}]').map((f) => f.t)).toEqual(['msg', 'read', 'msg']);
    expect(parseFrames('[{"t":"msg"},7,null,{"x":1},[{"t":"msg"}]]')).toEqual([{ t: 'msg' }]);
    for (const bad of ['nope', '7', 'null', '{"x":1}', '[]']) expect(parseFrames(bad)).toEqual([]);
    expect(parseFrames(new ArrayBuffer(2))).toEqual([]);
  });
});
