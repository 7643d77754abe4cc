/** The demo page's DOM-free logic (web/src/room-model.ts, web/src/typing.ts). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage } from '../../packages/client/src/index.js';
import { RoomModel } from '../../web/src/room-model.js';
import { TypingSender } from '../../web/src/typing.js';

const msg = (seq: number, from = 'bob'): ChatMessage => ({ room: 'r', seq, cid: `c${seq}`, from, body: `m${seq}`, ts: 1_700_000_000_000 + seq });

afterEach(() => {
  vi.useRealTimers();
});

describe('RoomModel', () => {
  it('holds each seq once, in order: appends in-order messages, re-sorts late ones', () => {
    const room = new RoomModel('r');
    expect(room.add([msg(3), msg(4)])).toBe('append');
    expect(room.add([msg(4)])).toBe('none');
    expect(room.add([msg(5)])).toBe('append');
    expect(room.add([msg(1), msg(2)])).toBe('rerender');
    expect(room.add([msg(7), msg(6)])).toBe('rerender');
    expect(room.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(room.head).toBe(7);
    room.clear();
    expect(room.messages).toEqual([]);
    expect(room.add([msg(7)])).toBe('append');
  });

  it('unread is head minus the read pointer, which never goes down', () => {
    const room = new RoomModel('r');
    room.head = 10;
    expect(room.setRead(4)).toBe(true);
    expect(room.unread).toBe(6);
    room.add([msg(11)]);
    expect(room.unread).toBe(7);
    expect(room.setRead(2)).toBe(false);
    expect(room.setRead(11)).toBe(true);
    expect(room.unread).toBe(0);
  });

  it('folds changes and replies into held messages; a history copy replaces one only when it folded more', () => {
    const room = new RoomModel('r');
    room.add([msg(1, 'me'), msg(2)]);
    expect(room.change({ room: 'r', seq: 3, cid: 'k', from: 'me', ts: 3, op: 'react', target: 1, reaction: 'ok', count: 1, users: ['me'] }, 'me')).toBe(true);
    expect(room.reacted(1, 'ok', 'me')).toBe(true);
    expect(room.change({ room: 'r', seq: 3, cid: 'k', from: 'me', ts: 3, op: 'react', target: 1, reaction: 'ok', count: 1, users: ['me'] }, 'me')).toBe(false);
    expect(room.change({ room: 'r', seq: 4, cid: 'x', from: 'me', ts: 4, op: 'react', target: 99, reaction: 'ok', count: 1, users: ['me'] }, 'me')).toBe(false);
    expect(room.add([{ ...msg(5), parent: 1 }])).toBe('rerender');
    expect(room.timeline.map((m) => m.seq)).toEqual([1, 2]);
    expect(room.thread(1).map((m) => m.seq)).toEqual([5]);
    expect(room.find(1)).toMatchObject({ replies: { count: 1, last: { seq: 5 } }, changed: 5 });
    // An older copy from history does not undo what was folded; a newer one replaces it.
    expect(room.add([{ ...msg(1, 'me'), changed: 3, reactions: { ok: { count: 1, users: ['me'] } } }])).toBe('none');
    expect(room.add([{ ...msg(1, 'me'), body: 'edited', version: 2, changed: 6 }])).toBe('rerender');
    expect(room.find(1)?.body).toBe('edited');
    expect(room.change({ room: 'r', seq: 7, cid: 'u', from: 'me', ts: 7, op: 'unreact', target: 1, reaction: 'ok', count: 0, users: [] }, 'me')).toBe(true);
    expect(room.reacted(1, 'ok', 'me')).toBe(false);
  });

  it('seenBy: other readers who reached the newest message, not me, not its sender', () => {
    const room = new RoomModel('r');
    room.add([msg(1, 'alice'), msg(2, 'alice')]);
    room.reads.set('bob', 2);
    room.reads.set('carol', 1);
    room.reads.set('alice', 2);
    room.reads.set('dave', 5);
    expect(room.seenBy('me')).toEqual(['bob', 'dave']);
    expect(room.seenBy('bob')).toEqual(['dave']);
    room.add([msg(3, 'dave')]);
    expect(room.seenBy('me')).toEqual([]);
  });

  it('typing: on/off per user, and a local expiry when the off never comes', () => {
    vi.useFakeTimers();
    const room = new RoomModel('r');
    const expired: string[] = [];
    room.setTyping('bob', true, 1000, () => expired.push('bob'));
    room.setTyping('carol', true, 1000, () => expired.push('carol'));
    expect(room.typers()).toEqual(['bob', 'carol']);
    room.setTyping('carol', false, 1000, () => expired.push('carol'));
    vi.advanceTimersByTime(999);
    room.setTyping('bob', true, 1000, () => expired.push('bob')); // a refresh restarts the expiry
    vi.advanceTimersByTime(999);
    expect(room.typers()).toEqual(['bob']);
    vi.advanceTimersByTime(1);
    expect(room.typers()).toEqual([]);
    expect(expired).toEqual(['bob']);
  });
});

describe('TypingSender', () => {
  it('sends on:true once per refresh period while typing, on:false once when stopped', () => {
    let now = 0;
    const sent: string[] = [];
    const typing = new TypingSender((room, on) => sent.push(`${room}:${on}`), 2500, () => now);
    typing.input('r', 'h');
    typing.input('r', 'he');
    now = 2499;
    typing.input('r', 'hel');
    now = 2500;
    typing.input('r', 'hell');
    expect(sent).toEqual(['r:true', 'r:true']);
    typing.stop();
    typing.stop();
    expect(sent).toEqual(['r:true', 'r:true', 'r:false']);
  });

  it('an emptied input or another room turns the first room off; reset forgets without sending', () => {
    const sent: string[] = [];
    const typing = new TypingSender((room, on) => sent.push(`${room}:${on}`), 2500, () => 0);
    typing.input('a', 'x');
    typing.input('a', '   ');
    typing.input('a', 'y');
    typing.input('b', 'z');
    typing.reset();
    typing.stop();
    expect(sent).toEqual(['a:true', 'a:false', 'a:true', 'a:false', 'b:true']);
  });
});
