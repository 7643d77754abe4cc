import { Events, headers as natsHeaders, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from '../shared/logger.js';
import type { Tracer } from '../shared/tracing.js';
import { ClusterBroadcast } from './cluster-broadcast.js';
import { connectNats, describeServers, type NatsServers } from './nats-servers.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Room names may hold '.', NATS's token separator; '~' never appears in a room name. */
export function natsToken(room: string): string {
  return room.replace(/\./g, '~');
}

/** Broadcast over NATS core pub/sub: a subject per room, `<prefix>.room.<room>`. */
export class NatsBroadcast extends ClusterBroadcast {
  private nc: NatsConnection | undefined;
  private readonly subs = new Map<string, Subscription>();
  private isConnected = false;

  constructor(
    private readonly servers: NatsServers,
    private readonly prefix: string,
    nodeId: string,
    logger: Logger,
    tracer?: Tracer,
  ) {
    super(nodeId, logger, tracer);
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async start(): Promise<void> {
    if (this.nc) return;
    const nc = await connectNats(this.servers, `parley-${this.nodeId}`);
    this.nc = nc;
    this.isConnected = true;
    void this.watch(nc);
    this.track(this.controlChannel(), nc.subscribe(this.controlChannel(), { callback: (err, msg) => !err && this.receivedControl(decoder.decode(msg.data)) }));
    // Started means subscribed: the server knows the control subscription before anyone publishes.
    await nc.flush();
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = undefined;
    this.isConnected = false;
    this.subs.clear();
    if (nc && !nc.isClosed()) await nc.drain().catch((err: unknown) => this.logger.error({ err }, 'draining the NATS connection failed'));
  }

  protected publishRaw(channel: string, data: string, headers?: Readonly<Record<string, string>>): Promise<void> {
    const nc = this.connection();
    if (headers) {
      const h = natsHeaders();
      for (const [key, value] of Object.entries(headers)) h.set(key, value);
      nc.publish(channel, encoder.encode(data), { headers: h });
    } else nc.publish(channel, encoder.encode(data));
    return Promise.resolve();
  }

  protected subscribeRaw(channel: string): Promise<void> {
    const nc = this.connection();
    this.track(channel, nc.subscribe(channel, { callback: (err, msg) => !err && this.receivedRoom(decoder.decode(msg.data), msg.headers) }));
    // A flush makes the subscription known to the server before the caller reads the room's head.
    return nc.flush();
  }

  protected unsubscribeRaw(channel: string): Promise<void> {
    this.subs.get(channel)?.unsubscribe();
    this.subs.delete(channel);
    return Promise.resolve();
  }

  protected roomChannel(room: string): string {
    return `${this.prefix}.room.${natsToken(room)}`;
  }

  protected controlChannel(): string {
    return `${this.prefix}.control`;
  }

  private track(channel: string, sub: Subscription): void {
    this.subs.get(channel)?.unsubscribe();
    this.subs.set(channel, sub);
  }

  private connection(): NatsConnection {
    if (!this.nc || this.nc.isClosed()) throw new Error('the NATS connection is closed');
    return this.nc;
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        this.isConnected = false;
        this.logger.warn({ server: s.data, servers: describeServers(this.servers) }, 'NATS disconnected');
      } else if (s.type === Events.Reconnect) {
        this.isConnected = true;
        this.logger.info({ server: s.data, servers: describeServers(this.servers) }, 'NATS reconnected');
      }
    }
  }
}
