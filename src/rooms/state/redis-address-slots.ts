import { randomBytes } from 'node:crypto';
import type { AddressSlots } from './address-slots.js';
import { asNumber, defineScript, hashTag, type RedisScripting, type ScriptCall } from './redis-scripts.js';

/** What RedisAddressSlots needs of an ioredis `Redis` or `Cluster`. */
export interface AddressSlotsClient extends RedisScripting {
  sadd(key: string, member: string): Promise<number>;
  srem(key: string, member: string): Promise<number>;
  smembers(key: string): Promise<string[]>;
  sscan(key: string, cursor: string, count: 'COUNT', n: number): Promise<[string, string[]]>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): Promise<string | null>;
  exists(...keys: string[]): Promise<number>;
  del(...keys: string[]): Promise<number>;
  hdel(key: string, field: string): Promise<number>;
}

// Keys (P = prefix; an owner is one gateway process: NODE_ID~<hex>):
//   {P:ca:<address>}      hash  owner -> slots it holds for the address
//   {P:cao:<owner>}:alive string PX = node TTL, renewed every third of it
//   {P:cao:<owner>}:addrs set   addresses the owner may hold slots of (a superset)
//   {P:cao:<owner>}:lock  string PX: the one process freeing a dead owner's slots
//   {P}:caowners          set   owners that may hold slots

/** KEYS: address hash. ARGV: owner, max. 1 and one more slot for the owner, or 0 when `max` are held. */
const ACQUIRE_LUA = `
local held = 0
for _, n in ipairs(redis.call('HVALS', KEYS[1])) do held = held + tonumber(n) end
if held >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
`;

/** KEYS: address hash. ARGV: owner. One slot less; the field goes at zero. */
const RELEASE_LUA = `
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 1
`;

const SCAN_COUNT = 500;

/**
 * AddressSlots in Redis, for many gateway processes. Each process holds its slots under a name
 * of its own and heartbeats it; every heartbeat, the processes look for owners whose heartbeat
 * expired and one of them (under the dead owner's lock) removes their slots, address by address
 * from the dead owner's index. The index is a superset: an address is added to it before a slot
 * is taken and removed only once this process holds none of it.
 */
export class RedisAddressSlots implements AddressSlots {
  private readonly owner: string;
  private readonly scripts: Record<'acquire' | 'release', ScriptCall>;
  /** Slots this process holds, per address, and the address of each connection's slot. */
  private readonly held = new Map<string, number>();
  private readonly owners = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly client: AddressSlotsClient,
    private readonly opts: { prefix: string; nodeId: string; nodeTtlS: number; onError: (err: unknown) => void },
  ) {
    if (/[{}]/.test(opts.prefix)) throw new Error('the Redis key prefix must not contain { or }');
    this.owner = `${opts.nodeId}~${randomBytes(4).toString('hex')}`;
    this.scripts = {
      acquire: defineScript(client, 'parleySlotsAcquire', 1, ACQUIRE_LUA),
      release: defineScript(client, 'parleySlotsRelease', 1, RELEASE_LUA),
    };
  }

  async start(): Promise<void> {
    if (this.timer) return;
    await this.heartbeat();
    this.timer = setInterval(() => this.tick(), (this.opts.nodeTtlS * 1000) / 3).unref();
  }

  /** Stops heartbeating and freeing without removing anything: a crash as the other processes see it. For tests. */
  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops heartbeating and frees this process's slots (its connections are closed by then). */
  async close(): Promise<void> {
    this.stopHeartbeat();
    await this.beating;
    await this.client.del(this.keys(this.owner).alive);
    await this.free(this.owner);
  }

  async acquire(address: string, connId: string, max: number): Promise<boolean> {
    this.held.set(address, (this.held.get(address) ?? 0) + 1);
    try {
      await this.client.sadd(this.keys(this.owner).addrs, address);
      if (asNumber(await this.scripts.acquire(this.addressKey(address), this.owner, max), 'acquire') === 1) {
        this.owners.set(connId, address);
        return true;
      }
    } catch (err) {
      await this.forget(address);
      throw err;
    }
    await this.forget(address);
    return false;
  }

  async release(connId: string): Promise<void> {
    const address = this.owners.get(connId);
    if (address === undefined) return;
    this.owners.delete(connId);
    try {
      await this.scripts.release(this.addressKey(address), this.owner);
    } finally {
      await this.forget(address);
    }
  }

  /** One slot of `address` fewer held here; at none, the address leaves the index (then re-checked). */
  private async forget(address: string): Promise<void> {
    const left = (this.held.get(address) ?? 1) - 1;
    if (left > 0) {
      this.held.set(address, left);
      return;
    }
    this.held.delete(address);
    const addrs = this.keys(this.owner).addrs;
    await this.client.srem(addrs, address);
    // An acquire that began meanwhile added it before this removal: put it back.
    if (this.held.has(address)) await this.client.sadd(addrs, address);
  }

  private tick(): void {
    if (this.beating) return;
    this.beating = (async () => {
      await this.heartbeat();
      await this.reapDead();
    })()
      .catch((err: unknown) => this.opts.onError(err))
      .finally(() => (this.beating = undefined));
  }

  private async heartbeat(): Promise<void> {
    await this.client.set(this.keys(this.owner).alive, '1', 'PX', this.opts.nodeTtlS * 1000);
    await this.client.sadd(this.ownersKey(), this.owner);
  }

  private async reapDead(): Promise<void> {
    for (const owner of await this.client.smembers(this.ownersKey())) {
      if (owner === this.owner) continue;
      const k = this.keys(owner);
      if ((await this.client.exists(k.alive)) !== 0) continue;
      if ((await this.client.set(k.lock, this.owner, 'PX', this.opts.nodeTtlS * 1000, 'NX')) === null) continue;
      await this.free(owner);
    }
  }

  /** Removes every slot `owner` holds, then the owner itself. */
  private async free(owner: string): Promise<void> {
    const k = this.keys(owner);
    let cursor = '0';
    do {
      const [next, addresses] = await this.client.sscan(k.addrs, cursor, 'COUNT', SCAN_COUNT);
      await Promise.all(addresses.map((address) => this.client.hdel(this.addressKey(address), owner)));
      cursor = next;
    } while (cursor !== '0');
    await this.client.del(k.addrs);
    await this.client.srem(this.ownersKey(), owner);
  }

  private addressKey(address: string): string {
    return hashTag(this.opts.prefix, `ca:${address}`);
  }

  private ownersKey(): string {
    return `{${this.opts.prefix}}:caowners`;
  }

  private keys(owner: string) {
    const t = hashTag(this.opts.prefix, `cao:${owner}`);
    return { alive: `${t}:alive`, addrs: `${t}:addrs`, lock: `${t}:lock` };
  }
}
