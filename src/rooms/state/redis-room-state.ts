import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '../types.js';
import { APPEND_LUA, GET_READ_LUA, HEAD_LUA, SET_READ_LUA } from './lua/room-state.js';
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

  constructor(
    private readonly client: RoomStateClient,
    private readonly opts: RedisRoomStateOptions,
  ) {
    if (/[{}]/.test(opts.prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.appendScript = defineScript(client, 'parleyRoomAppend', 4, APPEND_LUA);
    this.headScript = defineScript(client, 'parleyRoomHead', 3, HEAD_LUA);
    this.setReadScript = defineScript(client, 'parleyRoomSetRead', 3, SET_READ_LUA);
    this.getReadScript = defineScript(client, 'parleyRoomGetRead', 2, GET_READ_LUA);
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
    const reply = asArray(
      await this.appendScript(k.meta, k.recent, k.reads, k.dedupe(input.from, input.cid), newEpoch(), before, after, this.opts.recentMax, ttlMs),
      'append',
    );
    return {
      dup: asNumber(reply[0], 'append') === 1,
      message: parseMessage(asString(reply[1], 'append')),
      epoch: asString(reply[2], 'append'),
    };
  }

  async head(room: string): Promise<RoomHead> {
    const k = this.keys(room);
    const reply = asArray(await this.headScript(k.meta, k.recent, k.reads, newEpoch()), 'head');
    return { epoch: asString(reply[0], 'head'), head: asNumber(reply[1], 'head') };
  }

  async range(room: string, from: number, to: number): Promise<ChatMessage[]> {
    if (to < from) return [];
    const found = await this.client.zrangebyscore(this.keys(room).recent, from, to);
    return found.map(parseMessage);
  }

  async setRead(room: string, user: string, seq: number): Promise<{ seq: number; moved: boolean }> {
    const k = this.keys(room);
    const reply = asArray(await this.setReadScript(k.meta, k.recent, k.reads, newEpoch(), user, seq), 'setRead');
    return { seq: asNumber(reply[0], 'setRead'), moved: asNumber(reply[1], 'setRead') === 1 };
  }

  async getRead(room: string, user: string): Promise<number> {
    const k = this.keys(room);
    return asNumber(await this.getReadScript(k.meta, k.reads, user), 'getRead');
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
