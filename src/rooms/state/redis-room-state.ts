import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '../types.js';
import { APPEND_LUA, GET_READ_LUA, HEAD_LUA, RESTORE_LUA, SET_READ_LUA } from './lua/room-state.js';
import { asArray, asNumber, asString, defineScript, hashTag, type RedisScripting, type ScriptCall } from './redis-scripts.js';
import type { AppendInput, AppendResult, RoomHead, RoomState } from './room-state.js';

/** What RedisRoomState needs of an ioredis `Redis` or `Cluster`. */
export interface RoomStateClient extends RedisScripting {
  zrangebyscore(key: string, min: number | string, max: number | string): Promise<string[]>;
}

export interface RedisRoomStateOptions {
  /** Namespace of every key; must not contain `{` or `}` (they delimit the hash tag). */
  prefix: string;
  /** Messages kept per room for gap healing and recovery. */
  recentMax: number;
  /**
   * Where a room's position survives Redis (the durable queue, the message store). With it, a
   * room Redis lost is restored — same epoch, counter at the highest durable seq — before any
   * operation on it; without it (or when it knows nothing of the room) the room starts a new epoch.
   */
  durable?: DurablePosition;
}

/** The last position of a room that outlives Redis. */
export interface DurablePosition {
  lastPosition(room: string): Promise<{ epoch: string | undefined; seq: number } | undefined>;
}

/**
 * RoomState in Redis: one Lua call per operation, each on the keys of one room (hash tag
 * `{prefix:room}`), so it runs on Redis Cluster. What survives a Redis restart is what Redis
 * persists; a room whose meta hash is gone starts a new epoch at seq 1 (see lua/room-state.ts).
 * The client is the caller's: `close()` does not quit it.
 */
export class RedisRoomState implements RoomState {
  private readonly appendScript: ScriptCall;
  private readonly headScript: ScriptCall;
  private readonly setReadScript: ScriptCall;
  private readonly getReadScript: ScriptCall;
  private readonly restoreScript: ScriptCall;
  /** One restore at a time per room on this node. */
  private readonly restoring = new Map<string, Promise<void>>();

  constructor(
    private readonly client: RoomStateClient,
    private readonly opts: RedisRoomStateOptions,
  ) {
    if (/[{}]/.test(opts.prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.appendScript = defineScript(client, 'parleyRoomAppend', 4, APPEND_LUA);
    this.headScript = defineScript(client, 'parleyRoomHead', 3, HEAD_LUA);
    this.setReadScript = defineScript(client, 'parleyRoomSetRead', 3, SET_READ_LUA);
    this.getReadScript = defineScript(client, 'parleyRoomGetRead', 2, GET_READ_LUA);
    this.restoreScript = defineScript(client, 'parleyRoomRestore', 3, RESTORE_LUA);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async append(input: AppendInput, dedupeTtlS: number): Promise<AppendResult> {
    const k = this.keys(input.room);
    // The JSON is built here, field order as in ChatMessage; the script only splices in the seq.
    const before = `{"room":${JSON.stringify(input.room)},"seq":`;
    const rest: Omit<ChatMessage, 'room' | 'seq'> = {
      cid: input.cid,
      from: input.from,
      body: input.body,
      ...(input.meta !== undefined ? { meta: input.meta } : {}),
      ts: input.ts,
    };
    const after = `,${JSON.stringify(rest).slice(1)}`;
    const ttlMs = Math.max(1, Math.round(dedupeTtlS * 1000));
    const reply = await this.withRoom(input.room, (candidate) =>
      this.appendScript(k.meta, k.recent, k.reads, k.dedupe(input.from, input.cid), candidate, before, after, this.opts.recentMax, ttlMs),
    );
    return {
      dup: asNumber(reply[0], 'append') === 1,
      message: parseMessage(asString(reply[1], 'append')),
      epoch: asString(reply[2], 'append'),
    };
  }

  async head(room: string): Promise<RoomHead> {
    const k = this.keys(room);
    const reply = await this.withRoom(room, (candidate) => this.headScript(k.meta, k.recent, k.reads, candidate));
    return { epoch: asString(reply[0], 'head'), head: asNumber(reply[1], 'head') };
  }

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    if (to < from) return [];
    const found = await this.client.zrangebyscore(this.keys(room).recent, from, to);
    return found.map(parseMessage);
  }

  async setRead(room: string, user: string, seq: number): Promise<{ seq: number; moved: boolean }> {
    const k = this.keys(room);
    const reply = await this.withRoom(room, (candidate) => this.setReadScript(k.meta, k.recent, k.reads, candidate, user, seq));
    return { seq: asNumber(reply[0], 'setRead'), moved: asNumber(reply[1], 'setRead') === 1 };
  }

  async getRead(room: string, user: string): Promise<number> {
    const k = this.keys(room);
    return asNumber(await this.getReadScript(k.meta, k.reads, user), 'getRead');
  }

  /**
   * Runs a script that needs the room's counter. Without a durable source the script creates a
   * missing room itself (new epoch); with one, a missing room is restored first, then retried.
   */
  private async withRoom(room: string, run: (candidate: string) => Promise<unknown>): Promise<unknown[]> {
    if (!this.opts.durable) return asArray(await run(newEpoch()), 'room script');
    for (let attempt = 0; attempt < 3; attempt++) {
      const reply = asArray(await run(''), 'room script');
      if (reply[0] !== -1) return reply;
      await this.restore(room);
    }
    throw new Error(`room ${room} vanished again while it was being restored`);
  }

  private restore(room: string): Promise<void> {
    let pending = this.restoring.get(room);
    if (!pending) {
      pending = (async () => {
        const k = this.keys(room);
        const durable = await this.opts.durable?.lastPosition(room);
        await this.restoreScript(k.meta, k.recent, k.reads, durable?.epoch ?? newEpoch(), durable?.seq ?? 0);
      })().finally(() => this.restoring.delete(room));
      this.restoring.set(room, pending);
    }
    return pending;
  }

  private keys(room: string) {
    const tag = hashTag(this.opts.prefix, room);
    return {
      meta: `${tag}:meta`,
      recent: `${tag}:recent`,
      reads: `${tag}:reads`,
      // Length-prefixed so that no (from, cid) pair can spell another's key.
      dedupe: (from: string, cid: string) => `${tag}:d:${from.length}:${from}:${cid}`,
    };
  }
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

function parseMessage(json: string): ChatMessage {
  // Written by append() above: a ChatMessage with the seq spliced in.
  return JSON.parse(json) as ChatMessage;
}
