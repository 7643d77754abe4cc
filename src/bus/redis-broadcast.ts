import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../shared/logger.js';
import { ClusterBroadcast } from './cluster-broadcast.js';

/**
 * Broadcast over Redis pub/sub: a channel per room, `<prefix>:room:{<room>}`. Uses sharded
 * pub/sub (SPUBLISH/SSUBSCRIBE) on Redis 7+, so each room's traffic stays on one shard of a
 * cluster; plain PUBLISH/SUBSCRIBE on older servers. `sub` is a dedicated connection. Both
 * clients are the caller's: `close()` unsubscribes but does not quit them.
 */
export class RedisBroadcast extends ClusterBroadcast {
  private sharded = false;
  private started = false;

  constructor(
    private readonly pub: Redis | Cluster,
    private readonly sub: Redis | Cluster,
    private readonly prefix: string,
    nodeId: string,
    logger: Logger,
  ) {
    super(nodeId, logger);
  }

  get connected(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready';
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const info = await this.pub.info('server');
    const major = Number(/redis_version:(\d+)/.exec(info)?.[1] ?? '0');
    this.sharded = major >= 7;
    const onMessage = (channel: string, message: string) => {
      if (channel === this.controlChannel()) this.receivedControl(message);
      else this.receivedRoom(message);
    };
    this.sub.on('message', onMessage);
    this.sub.on('smessage', onMessage);
    // Control is cluster-wide, so it uses classic pub/sub even when rooms are sharded.
    await this.sub.subscribe(this.controlChannel());
  }

  async close(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.sub.removeAllListeners('message');
    this.sub.removeAllListeners('smessage');
    if (this.sub.status === 'ready') {
      await Promise.allSettled([this.sub.unsubscribe(), ...(this.sharded ? [this.sub.sunsubscribe()] : [])]);
    }
  }

  protected async publishRaw(channel: string, data: string): Promise<void> {
    if (channel === this.controlChannel()) await this.pub.publish(channel, data);
    else if (this.sharded) await this.pub.spublish(channel, data);
    else await this.pub.publish(channel, data);
  }

  protected async subscribeRaw(channel: string): Promise<void> {
    if (this.sharded) await this.sub.ssubscribe(channel);
    else await this.sub.subscribe(channel);
  }

  protected async unsubscribeRaw(channel: string): Promise<void> {
    if (this.sharded) await this.sub.sunsubscribe(channel);
    else await this.sub.unsubscribe(channel);
  }

  protected roomChannel(room: string): string {
    return `${this.prefix}:room:{${room}}`;
  }

  protected controlChannel(): string {
    return `${this.prefix}:control`;
  }
}
