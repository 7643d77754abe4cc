import { randomBytes } from 'node:crypto';
import type { DurablePosition } from '../../domain/durable-position.js';
import type { ChatMessage } from '../../domain/messages.js';
import type { MessageSummary } from '../../domain/summary.js';
import { changeEvent, eventJsonParts } from './change-events.js';
import { CHANGE_LUA, SUMMARIES_LUA } from './lua/changes.js';
import { APPEND_LUA, COMMIT_LUA, GET_READ_LUA, HEAD_LUA, INVALIDATE_LUA, READ_LUA, SET_READ_LUA } from './lua/room-state.js';
import type { Refusal, SendChecks } from './moderation.js';
import { moderationKeys } from './redis-moderation.js';
import { asArray, asNumber, asString, defineScript, defineVariadicScript, hashTag, type RedisScripting, type ScriptCall, type VariadicScriptCall } from './redis-scripts.js';
import { RoomRestorer } from './room-restorer.js';
import { eventJson } from './change-events.js';
import { editJson, parseStoredSummary, seedArgs } from './redis-summaries.js';
import type { AppendInput, AppendResult, ChangeInput, ChangeOptions, ChangeResult, ChangeRules, CheckedAppendResult, CommitStatus, ProbeResult, RoomHead, RoomRead, RoomState } from './room-state.js';

const COMMIT_STATUS: readonly CommitStatus[] = ['gone', 'committed', 'earlier'];

/** What RedisRoomState needs of an ioredis `Redis` or `Cluster`. */
export type RoomStateClient = RedisScripting;

export interface RedisRoomStateOptions {
  /** Namespace of every key; must not contain `{` or `}` (they delimit the hash tag). */
  prefix: string;
  /** Messages kept per room for gap healing and recovery. */
  recentMax: number;
  /**
   * Where a room's position survives Redis (the durable queue, the message store). With it, a
   * room Redis lost, or holds an older copy of (a restart from a snapshot, a failover to a
   * lagging replica: the server's run id changed), is brought back to the durable copy — same
   * epoch, counter, recent messages and dedupe entries — before any operation on it; without it
   * (or when it knows nothing of the room) a lost room starts a new epoch.
   */
  durable?: DurablePosition;
  /** DEDUPE_TTL_S: restored dedupe entries live what is left of it (default 600). */
  dedupeTtlS?: number;
  /** REACTION_USERS_SHOWN: of the summaries a restore takes back (default 10). */
  usersShown?: number;
}

/**
 * RoomState in Redis: one Lua call per operation, each on the keys of one room (hash tag
 * `{prefix:room}`), so it runs on Redis Cluster. The key layout and the verification of a room
 * against the server's run id are in lua/room-state.ts. The client is the caller's: `close()`
 * does not quit it.
 */
export class RedisRoomState implements RoomState {
  private readonly appendScript: ScriptCall;
  private readonly commitScript: ScriptCall;
  private readonly headScript: ScriptCall;
  private readonly readScript: ScriptCall;
  private readonly setReadScript: ScriptCall;
  private readonly getReadScript: ScriptCall;
  private readonly invalidateScript: ScriptCall;
  private readonly changeScript: VariadicScriptCall;
  private readonly summariesScript: VariadicScriptCall;
  private readonly restorer: RoomRestorer | undefined;

  constructor(
    client: RoomStateClient,
    private readonly opts: RedisRoomStateOptions,
  ) {
    if (/[{}]/.test(opts.prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.appendScript = defineScript(client, 'parleyRoomAppend', 7, APPEND_LUA);
    this.commitScript = defineScript(client, 'parleyRoomCommit', 3, COMMIT_LUA);
    this.headScript = defineScript(client, 'parleyRoomHead', 4, HEAD_LUA);
    this.readScript = defineScript(client, 'parleyRoomRead', 2, READ_LUA);
    this.setReadScript = defineScript(client, 'parleyRoomSetRead', 4, SET_READ_LUA);
    this.getReadScript = defineScript(client, 'parleyRoomGetRead', 2, GET_READ_LUA);
    this.invalidateScript = defineScript(client, 'parleyRoomInvalidate', 1, INVALIDATE_LUA);
    this.changeScript = defineVariadicScript(client, 'parleyRoomChange', CHANGE_LUA);
    this.summariesScript = defineVariadicScript(client, 'parleyRoomSummaries', SUMMARIES_LUA);
    this.restorer = opts.durable
      ? new RoomRestorer(client, opts.durable, {
          recentMax: opts.recentMax,
          usersShown: opts.usersShown ?? 10,
          dedupeTtlMs: (opts.dedupeTtlS ?? 600) * 1000,
          keys: (room) => this.keys(room),
          newEpoch,
        })
      : undefined;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async append(input: AppendInput, dedupeTtlS: number): Promise<AppendResult> {
    const reply = await this.appendCall(input, dedupeTtlS, 'a', NO_CHECKS);
    return this.appended(reply);
  }

  async appendChecked(input: AppendInput, dedupeTtlS: number, checks: SendChecks): Promise<CheckedAppendResult> {
    const reply = await this.appendCall(input, dedupeTtlS, 'c', checks);
    return reply[0] === -2 ? { refused: refusalOf(reply) } : this.appended(reply);
  }

  async probe(input: Pick<AppendInput, 'room' | 'from' | 'cid' | 'ts'>, checks: SendChecks): Promise<ProbeResult> {
    const reply = await this.appendCall({ ...input, body: '' }, 1, 'p', checks);
    if (reply[0] === -2) return { kind: 'refused', refusal: refusalOf(reply) };
    return { kind: asNumber(reply[0], 'probe') === 1 ? 'dup' : 'new' };
  }

  /** One call of the append script (lua/room-state.ts) in `mode`: 'a' append, 'c' checked append, 'p' probe. */
  private appendCall(input: AppendInput, dedupeTtlS: number, mode: 'a' | 'c' | 'p', checks: SendChecks): Promise<unknown[]> {
    const k = this.keys(input.room);
    const m = moderationKeys(this.opts.prefix, input.room);
    // The JSON is built here, field order as in ChatMessage; the script only splices in the seq.
    const before = mode === 'p' ? '' : `{"room":${JSON.stringify(input.room)},"seq":`;
    const rest: Omit<ChatMessage, 'room' | 'seq'> = {
      cid: input.cid,
      from: input.from,
      body: input.body,
      ...(input.meta !== undefined ? { meta: input.meta } : {}),
      ts: input.ts,
    };
    const after = mode === 'p' ? '' : `,${JSON.stringify(rest).slice(1)}`;
    const ttlMs = Math.max(1, Math.round(dedupeTtlS * 1000));
    const exempt = checks.slowExempt ? '1' : '0';
    return this.withRoom(input.room, (candidate) =>
      this.appendScript(k.meta, k.recent, k.reads, k.pend, k.dedupe(input.from, input.cid), m.mod, m.slow, candidate, before, after, this.opts.recentMax, ttlMs, mode, input.from, input.ts, exempt),
    );
  }

  private appended(reply: unknown[]): AppendResult {
    return {
      dup: asNumber(reply[0], 'append') === 1,
      message: parseMessage(asString(reply[1], 'append')),
      epoch: asString(reply[2], 'append'),
    };
  }

  async change(input: ChangeInput, rules: ChangeRules, opts: ChangeOptions = {}): Promise<ChangeResult> {
    const k = this.keys(input.room);
    const m = moderationKeys(this.opts.prefix, input.room);
    const { before, after } = eventJsonParts(changeEvent(input, 0));
    const ttlMs = Math.max(1, Math.round(rules.dedupeTtlS * 1000));
    const edit = input.op === 'edit' ? editJson(input.body ?? '', input.meta) : '';
    const mode = opts.probe ? 'p' : opts.checks ? 'c' : 'a';
    const exempt = opts.checks?.slowExempt ? 1 : 0;
    const seeded = opts.seed ? seedArgs(opts.seed, rules.usersShown) : [''];
    const reply = await this.withRoom(input.room, (candidate) =>
      this.changeScript(
        [k.meta, k.recent, k.reads, k.pend, k.dedupe(input.from, input.cid), k.sum, k.rx(input.target), m.mod, m.slow],
        [candidate, before, after, this.opts.recentMax, ttlMs, input.op, input.target, input.from, input.reaction ?? '', input.admin ? 1 : 0, rules.kindsPerMessage, rules.usersShown, edit, input.ts, mode, exempt, ...seeded],
      ),
    );
    switch (asNumber(reply[0], 'change')) {
      case 0:
      case 1:
        return { kind: 'appended', dup: reply[0] === 1, message: parseMessage(asString(reply[1], 'change')), epoch: asString(reply[2], 'change') };
      case 2:
        return { kind: 'held', seq: asNumber(reply[1], 'change'), ts: asNumber(reply[2], 'change'), epoch: asString(reply[3], 'change') };
      case 3:
        return { kind: 'probed' };
      case -2:
        return { kind: 'unknown' };
      case -4:
        return { kind: 'restricted', refusal: refusalOf([0, reply[1], reply[2]]) };
      default: {
        const code = asString(reply[1], 'change');
        return { kind: 'refused', code: code === 'forbidden' ? 'forbidden' : 'not_found', reason: asString(reply[2], 'change') };
      }
    }
  }

  async summaries(room: string, seqs: readonly number[]): Promise<Map<number, MessageSummary>> {
    const out = new Map<number, MessageSummary>();
    if (seqs.length === 0) return out;
    const k = this.keys(room);
    const found = asArray(await this.summariesScript([k.meta, k.sum], seqs), 'summaries');
    found.forEach((json, i) => {
      if (typeof json === 'string') out.set(seqs[i] as number, parseStoredSummary(json));
    });
    return out;
  }

  async commit(room: string, epoch: string, messages: readonly ChatMessage[]): Promise<CommitStatus[]> {
    const k = this.keys(room);
    const reply = asArray(await this.commitScript(k.meta, k.pend, k.recent, epoch, ...messages.flatMap((m) => [m.seq, eventJson(m)])), 'commit');
    return messages.map((_, i) => COMMIT_STATUS[asNumber(reply[i] ?? 0, 'commit')] ?? 'gone');
  }

  async head(room: string): Promise<RoomHead> {
    const k = this.keys(room);
    const reply = await this.withRoom(room, (candidate) => this.headScript(k.meta, k.recent, k.reads, k.pend, candidate));
    return { epoch: asString(reply[0], 'head'), head: asNumber(reply[1], 'head'), seq: asNumber(reply[2], 'head') };
  }

  async invalidate(room: string): Promise<void> {
    if (this.restorer) await this.invalidateScript(this.keys(room).meta);
  }

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    return (await this.read(room, from, to)).durable;
  }

  async read(room: string, from: number, to: number): Promise<RoomRead> {
    if (to < from) return { durable: [], pending: [] };
    const k = this.keys(room);
    const reply = asArray(await this.readScript(k.recent, k.pend, from, to), 'read');
    const list = (i: number) => asArray(reply[i] ?? [], 'read').map((json) => parseMessage(asString(json, 'read')));
    return { durable: list(0), pending: list(1) };
  }

  async setRead(room: string, user: string, seq: number): Promise<{ seq: number; moved: boolean }> {
    const k = this.keys(room);
    const reply = await this.withRoom(room, (candidate) => this.setReadScript(k.meta, k.recent, k.reads, k.pend, candidate, user, seq));
    return { seq: asNumber(reply[0], 'setRead'), moved: asNumber(reply[1], 'setRead') === 1 };
  }

  async getRead(room: string, user: string): Promise<number> {
    const k = this.keys(room);
    return asNumber(await this.getReadScript(k.meta, k.reads, user), 'getRead');
  }

  /**
   * Runs a script that needs the room's counter. Without a durable source the script creates a
   * missing room itself (new epoch); with one, a missing or unverified room is restored first,
   * then the script runs again.
   */
  private async withRoom(room: string, run: (candidate: string) => Promise<unknown>): Promise<unknown[]> {
    if (!this.restorer) return asArray(await run(newEpoch()), 'room script');
    for (let attempt = 0; attempt < 3; attempt++) {
      const reply = asArray(await run(''), 'room script');
      if (reply[0] !== -1) return reply;
      await this.restorer.restore(room);
    }
    throw new Error(`room ${room} could not be verified against its durable copy (Redis restarted again meanwhile?)`);
  }

  private keys(room: string) {
    const tag = hashTag(this.opts.prefix, room);
    return {
      meta: `${tag}:meta`,
      recent: `${tag}:recent`,
      reads: `${tag}:reads`,
      pend: `${tag}:pend`,
      sum: `${tag}:sum`,
      rx: (seq: number) => `${tag}:rx:${seq}`,
      // Length-prefixed so that no (from, cid) pair can spell another's key.
      dedupe: (from: string, cid: string) => `${tag}:d:${from.length}:${from}:${cid}`,
    };
  }
}

const NO_CHECKS: SendChecks = { slowExempt: true };

/** A refusal of the append script: {-2, code, until (0: none) or wait ms}. */
function refusalOf(reply: unknown[]): Refusal {
  const code = asString(reply[1], 'append');
  const value = asNumber(reply[2], 'append');
  if (code === 'slow_mode') return { code, retryAfterMs: value };
  if (code === 'banned' || code === 'muted') return { code, until: value === 0 ? null : value };
  throw new Error(`unexpected refusal ${code} from the append script`);
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

function parseMessage(json: string): ChatMessage {
  // Written by append() above (or restored from the durable copy): a ChatMessage with its seq.
  return JSON.parse(json) as ChatMessage;
}
