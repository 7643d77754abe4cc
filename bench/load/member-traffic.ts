import { nowMs, type Reply } from '../lib/client.js';
import { Samples } from '../lib/measure.js';
import type { ChurnArgs, SendArgs } from '../lib/member-gens.js';
import type { Member } from '../lib/member.js';

/** A connection as the traffic below sees it: its number, its rooms, its current socket. */
export interface Traffic {
  n: number;
  rooms: string[];
  member: Member | undefined;
}

export interface Run {
  stop: () => void;
  done: Promise<unknown>;
}

/** Sends at `ratePerS` in all, round-robin over the group's members and each one's rooms. */
export function sendAt(list: readonly Traffic[], a: SendArgs): { stop: () => void; done: Promise<unknown> } {
  const pad = 'x'.repeat(a.bodyBytes);
  const acks = new Samples(100_000);
  let sent = 0;
  let acked = 0;
  let errors = 0;
  let inflight = 0;
  let firstError: string | undefined;
  let turn = 0;
  const started = nowMs();
  const one = (): void => {
    const e = list[turn % list.length]!;
    const room = e.rooms[Math.floor(turn / list.length) % e.rooms.length]!;
    turn++;
    const m = e.member;
    if (!m?.open) return;
    const t0 = nowMs();
    const stamp = `${t0.toFixed(3)}|`;
    inflight++;
    sent++;
    m.send(room, `${a.cidPrefix}${e.n}-${sent}`, stamp + pad.slice(stamp.length), (r: Reply) => {
      inflight--;
      if (r.ok) {
        acked++;
        acks.add(nowMs() - t0);
      } else {
        errors++;
        firstError ??= r.error?.code ?? 'error';
      }
    });
  };
  // A stalled server must not make the generator queue without bound.
  const run = paced(started, a.ratePerS, a.maxMs, () => turn, () => inflight < 20_000 && (one(), true));
  return { stop: run.stop, done: run.stopped.then(() => ({ sent, acked, errors, inflight, firstError, elapsedMs: nowMs() - started, ackLatencies: acks.values() })) };
}

/**
 * Calls `step` every 5 ms as often as `ratePerS` since `started` asks, given the `done` steps
 * so far (`step` returns false to stop early in a tick); stops by itself after `maxMs`.
 */
function paced(started: number, ratePerS: number, maxMs: number, done: () => number, step: () => boolean): { stop: () => void; stopped: Promise<void> } {
  const timer = setInterval(() => {
    const due = Math.floor(((nowMs() - started) / 1000) * ratePerS) - done();
    for (let i = 0; i < due; i++) if (!step()) break;
  }, 5);
  let finish!: () => void;
  const stopped = new Promise<void>((r) => (finish = r));
  const hard = setTimeout(() => stop(), maxMs);
  const stop = (): void => {
    clearInterval(timer);
    clearTimeout(hard);
    finish();
  };
  return { stop, stopped };
}

/** Joins and leaves `room` at `ratePerS` operations in all, each connection alternating, round-robin. */
export function churn(list: readonly Traffic[], a: ChurnArgs): { stop: () => void; done: Promise<unknown> } {
  const joined = new Set<number>();
  let turn = 0;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  // Every other connection starts joined, so joins and leaves alternate from the first second.
  list.forEach((e, at) => {
    if (at % 2 === 1 && e.member?.open) {
      joined.add(at);
      void e.member.request('join', { room: a.room, presence: 'delta' });
    }
  });
  const started = nowMs();
  const one = (): boolean => {
    const at = turn++ % list.length;
    const m = list[at]?.member;
    if (!m?.open) return true;
    const leave = joined.has(at);
    if (leave) joined.delete(at);
    else joined.add(at);
    void m.request(leave ? 'leave' : 'join', leave ? { room: a.room } : { room: a.room, presence: 'delta' }).then((r) => {
      if (r.ok) ops++;
      else {
        errors++;
        firstError ??= r.error?.code;
      }
    });
    return true;
  };
  const run = paced(started, a.ratePerS, a.maxMs, () => turn, one);
  return { stop: run.stop, done: run.stopped.then(() => ({ ops, errors, firstError, elapsedMs: nowMs() - started })) };
}
