import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import type { Tracer } from '../shared/tracing.js';
import { ClusterBroadcast } from './cluster-broadcast.js';

/**
 * Broadcast over Redis pub/sub: a channel per room, `<prefix>:room:{<room>}`. Uses sharded
 * pub/sub (SPUBLISH/SSUBSCRIBE) on Redis 7+, so each room's traffic stays on one shard of a
 * cluster; plain PUBLISH/SUBSCRIBE on older servers. `sub` is a dedicated connection; on Redis
 * Cluster it needs ioredis' `shardedSubscribers` (a subscriber per shard: SSUBSCRIBE must reach
 * the shard that owns the channel's slot). Both clients are the caller's: `close()`
 * unsubscribes but does not quit them.
 */
export class RedisBroadcast extends ClusterBroadcast {
  private sharded = false;
  private started = false;
  /** Sharded channels subscribed: a Cluster unsubscribes them one slot at a time, never all at once. */
  private readonly shardedChannels = new Set<string>();

  constructor(
    private readonly pub: Redis | Cluster,
    private readonly sub: Redis | Cluster,
    private readonly prefix: string,
    nodeId: string,
    logger: Logger,
    tracer?: Tracer,
  ) {
    super(nodeId, logger, tracer);
  }

  get connected(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // ioredis checks readiness with INFO once connected: a SUBSCRIBE sent before that check
    // puts the connection in subscriber mode first and the check fails (ioredis #2037).
    await Promise.all([whenReady(this.pub), whenReady(this.sub)]);
    const info = await this.pub.info('server');
    const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? '0');
    this.sharded = major >= 7;
    const onMessage = (channel: string, message: string) => {
      if (channel === this.controlChannel()) this.receivedControl(message);
      else this.receivedRoom(message);
    };
    this.sub.on('message', onMessage);
    this.sub.on('smessage', onMessage);
    // Control takes the rooms' kind of pub/sub: a sharded channel reaches every subscriber too,
    // and a connection with both kinds breaks in ioredis (SUNSUBSCRIBE of the last room reports
    // 0 sharded channels left and ioredis leaves subscriber mode under the classic one).
    await this.subscribeRaw(this.controlChannel());
  }

  async close(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.sub.removeAllListeners('message');
    this.sub.removeAllListeners('smessage');
    if (this.sub.status === 'ready') {
      const channels = [...this.shardedChannels];
      await Promise.allSettled(this.sharded ? channels.map(async (c) => this.sub.sunsubscribe(c)) : [this.sub.unsubscribe()]);
    }
    this.shardedChannels.clear();
  }

  protected async publishRaw(channel: string, data: string): Promise<void> {
    if (this.sharded) await this.pub.spublish(channel, data);
    else await this.pub.publish(channel, data);
  }

  protected async subscribeRaw(channel: string): Promise<void> {
    if (this.sharded) {
      await this.sub.ssubscribe(channel);
      this.shardedChannels.add(channel);
    } else {
      await this.sub.subscribe(channel);
    }
  }

  protected async unsubscribeRaw(channel: string): Promise<void> {
    if (this.sharded) {
      this.shardedChannels.delete(channel);
      await this.sub.sunsubscribe(channel);
    } else {
      await this.sub.unsubscribe(channel);
    }
  }

  protected roomChannel(room: string): string {
    return `${this.prefix}:room:{${room}}`;
  }

  protected controlChannel(): string {
    return `${this.prefix}:control`;
  }
}

/** Resolves once the client is ready (connected and past its ready check). */
function whenReady(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = () => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = () => {
      client.off('ready', onReady);
      reject(new Error('the Redis connection ended before it was ready'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}
