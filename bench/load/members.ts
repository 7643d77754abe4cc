// A load-generator process of room members (bench/lib/member.ts), driven over IPC by
// bench/lib/member-gens.ts: groups of connections in many rooms, senders at a fixed rate,
// join/leave churn, reconnect-and-resume after a node dies, and the loss and duplicate check.
import { mintToken } from '../../src/gateway/auth.js';
import { nowMs } from '../lib/client.js';
import { Samples } from '../lib/measure.js';
import { lostSeqs, Member, refusalStatus, type RoomTrack } from '../lib/member.js';
import type { ChurnArgs, ConnectMembersArgs, SendArgs } from '../lib/member-gens.js';
import { churn, sendAt, type Run, type Traffic } from './member-traffic.js';

interface Entry extends Traffic {
  token: string;
  tracks: Map<string, RoomTrack>;
  localAddress: string;
  args: ConnectMembersArgs;
  /** Lost its connection and has not rejoined every room since. */
  down: boolean;
  /** Connections lost (not closed by this process). */
  losses: number;
  resumedAt?: number;
}

const groups = new Map<string, Entry[]>();
const closeCodes: Record<string, number> = {};
const refusals: Record<string, number> = {};
let reconnects = 0;
let closing = false;
let samples = new Samples(300_000);
let sampling = false;
const counts = { msgs: 0, presence: 0 };
const runs = new Map<string, Run>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const members = (group?: string): Entry[] => (group === undefined ? [...groups.values()].flat() : (groups.get(group) ?? []));
const bump = (m: Record<string, number>, k: number | string) => (m[String(k)] = (m[String(k)] ?? 0) + 1);

async function open(e: Entry, port: number): Promise<Member> {
  const a = e.args;
  // A connection that never finished opening (no hello, a refused join) is the caller's to
  // retry: its close must not start a second reconnect loop for the same entry.
  let live = false;
  const member = await Member.connect(
    {
      port,
      token: e.token,
      localAddress: e.localAddress,
      batch: a.batch,
      timeoutMs: a.timeoutMs,
      track: a.track,
      ...(a.sampleEvery > 0 && e.n % a.sampleEvery === 0 ? { onLatency: (ms: number) => sampling && samples.add(ms) } : {}),
      onClose: (code) => live && onClose(e, code),
    },
    e.tracks,
  );
  try {
    for (const room of a.joinRooms ? e.rooms : []) await member.join(room);
  } catch (err) {
    member.destroy();
    throw err;
  }
  for (const [room, track] of member.rooms) e.tracks.set(room, track);
  live = true;
  return member;
}

function onClose(e: Entry, code: number): void {
  if (closing) return;
  const old = e.member;
  if (old) {
    counts.msgs += old.msgs;
    counts.presence += old.presence;
  }
  e.member = undefined;
  e.losses++;
  bump(closeCodes, code);
  if (e.args.failoverPort === undefined) return;
  e.down = true;
  void reconnect(e, e.args.failoverPort);
}

/** Full-jitter exponential backoff (docs/protocol.md "Reconnecting": base 0.5 s, cap 30 s), bounded in attempts. */
async function reconnect(e: Entry, port: number): Promise<void> {
  for (let attempt = 0; attempt < 30 && !closing; attempt++) {
    await sleep(Math.random() * Math.min(30_000, 500 * 2 ** attempt));
    if (closing) return;
    reconnects++;
    try {
      e.member = await open(e, port);
      e.down = false;
      e.resumedAt = nowMs();
      return;
    } catch (err) {
      bump(refusals, refusalStatus(err) ?? (err instanceof Error ? err.message.replace(/\d+/g, 'N').slice(0, 60) : 'error'));
    }
  }
}

async function connect(a: ConnectMembersArgs): Promise<{ connected: number; failed: number; firstError?: string }> {
  const list = groups.get(a.group) ?? [];
  groups.set(a.group, list);
  const deadline = Date.now() + a.deadlineMs;
  const key = new TextEncoder().encode(a.secret);
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < a.count && Date.now() < deadline) {
      const n = a.offset + next++;
      const rooms = Array.from({ length: a.roomsPerMember }, (_, j) => a.rooms[(n * a.roomsPerMember + j) % a.rooms.length]!);
      const { token } = await mintToken(key, { user: `${a.userPrefix}${n}`, ttlS: 3 * 3600, rooms: ['*'] });
      const e: Entry = { n, token, rooms, member: undefined, tracks: new Map(), localAddress: a.localAddresses[n % a.localAddresses.length]!, args: a, down: false, losses: 0 };
      try {
        e.member = await open(e, a.port);
        list.push(e);
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, a.concurrency) }, worker));
  failed += a.count - next;
  return { connected: a.count - failed, failed, ...(firstError ? { firstError } : {}) };
}

/** Pushes counted so far by the group's members (all groups: members lost on the way included). */
function totals(group?: string): { msgs: number; presence: number } {
  let msgs = group === undefined ? counts.msgs : 0;
  let presence = group === undefined ? counts.presence : 0;
  for (const e of members(group)) {
    msgs += e.member?.msgs ?? 0;
    presence += e.member?.presence ?? 0;
  }
  return { msgs, presence };
}

/**
 * Waits until every member of `group` lost its connection at least once and none is down any
 * more (or the deadline); the latest resume time and what it cost.
 */
async function waitResumed(group: string, deadlineMs: number): Promise<unknown> {
  const deadline = Date.now() + deadlineMs;
  const list = members(group);
  while (list.some((e) => e.down || e.losses === 0) && Date.now() < deadline) await sleep(20);
  return {
    members: list.length,
    down: list.filter((e) => e.down || e.losses === 0).length,
    resumed: list.filter((e) => e.resumedAt !== undefined).length,
    lastResumedAt: Math.max(0, ...list.map((e) => e.resumedAt ?? 0)),
    reconnects,
    closeCodes,
    refusals,
  };
}

/** Waits until every tracked room reached its head, then counts lost and duplicated seqs. */
async function verify(heads: Record<string, number>, deadlineMs: number): Promise<unknown> {
  const deadline = Date.now() + deadlineMs;
  const behind = (): number => members().reduce((s, e) => s + [...e.tracks].filter(([room, t]) => t.highest < (heads[room] ?? 0)).length, 0);
  while (behind() > 0 && Date.now() < deadline) await sleep(50);
  let lost = 0;
  let membersLosing = 0;
  let pushDups = 0;
  let overlaps = 0;
  let resets = 0;
  let tracks = 0;
  for (const e of members()) {
    let mine = 0;
    for (const [room, t] of e.tracks) {
      tracks++;
      mine += lostSeqs(t, heads[room] ?? 0);
      pushDups += t.pushDups;
      overlaps += t.overlaps;
      resets += t.resets;
    }
    lost += mine;
    if (mine > 0) membersLosing++;
  }
  return { tracks, behind: behind(), lost, membersLosing, pushDups, overlaps, resets };
}

/** The head of every room this group's first members are in, from a fresh join reply each. */
async function heads(group: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const e of members(group)) {
    for (const room of e.rooms) {
      if (out[room] !== undefined || !e.member) continue;
      const r = await e.member.request('join', { room });
      if (r.ok) out[room] = (r.data as { head: number }).head;
    }
  }
  return out;
}

type Command = { id: number; op: string; args: unknown };

async function handle(cmd: Command): Promise<unknown> {
  const a = cmd.args as Record<string, unknown> | undefined;
  switch (cmd.op) {
    case 'connect':
      return connect(cmd.args as ConnectMembersArgs);
    case 'send-start':
    case 'churn-start': {
      const key = `${cmd.op}:${String(a?.['group'])}`;
      const args = cmd.args as SendArgs | ChurnArgs;
      runs.set(key, cmd.op === 'send-start' ? sendAt(members(args.group), args as SendArgs) : churn(members(args.group), args as ChurnArgs));
      return {};
    }
    case 'send-stop':
    case 'churn-stop': {
      const key = `${cmd.op.replace('stop', 'start')}:${String(a?.['group'])}`;
      const run = runs.get(key);
      runs.delete(key);
      run?.stop();
      return run?.done ?? {};
    }
    case 'count-start':
      samples = new Samples(300_000);
      sampling = true;
      return { at: nowMs(), ...totals(a?.['group'] as string | undefined) };
    case 'count-stop':
      sampling = false;
      return { at: nowMs(), ...totals(a?.['group'] as string | undefined), latencies: samples.values() };
    case 'wait-resumed':
      return waitResumed(String(a?.['group']), Number(a?.['deadlineMs']));
    case 'heads':
      return heads(String(a?.['group']));
    case 'verify':
      return verify(a?.['heads'] as Record<string, number>, Number(a?.['deadlineMs']));
    case 'status':
      return { open: members().filter((e) => e.member?.open).length, closeCodes, refusals };
    case 'close':
      closing = true;
      for (const e of members()) e.member?.close();
      setTimeout(() => process.exit(0), 200);
      return {};
    default:
      throw new Error(`unknown command ${cmd.op}`);
  }
}

process.on('message', (cmd: Command) => {
  handle(cmd).then(
    (result) => process.send?.({ id: cmd.id, ok: true, result }),
    (err: unknown) => process.send?.({ id: cmd.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, ok: true, result: 'ready' });
