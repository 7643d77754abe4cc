import { Cluster, Redis } from 'ioredis';
import type { Lifecycle } from './shared/lifecycle.js';
import { redactUrl, type Logger } from './shared/logger.js';

export type RedisClient = Redis | Cluster;

const QUIT_WAIT_MS = 2000;

export interface RedisConnectionOptions {
  /** Redis Cluster only: one subscriber connection per shard, which SSUBSCRIBE (sharded pub/sub) needs. */
  shardedSubscribers?: boolean;
  /**
   * Queue commands while disconnected and retry them after the reconnect, instead of failing
   * them: for a library that fires commands without handling their rejection (the Socket.IO
   * Redis adapter), where a failed command would be an unhandled rejection.
   */
  queueWhileDown?: boolean;
  /**
   * PING every second: a server that hangs keeps its connections open, so only an answer (or
   * its absence) tells readiness that it is gone.
   */
  probe?: boolean;
  /**
   * Send the commands of one event-loop turn as one write (ioredis auto-pipelining): the send
   * path and the joins issue many small calls per turn, and a write per command costs a
   * syscall each, which under a reconnect storm holds the event loop.
   */
  pipeline?: boolean;
}

const PROBE_MS = 1000;

/**
 * A Redis (or Redis Cluster) connection for the gateway. Commands fail fast while it is down
 * (no offline queue, unless `queueWhileDown`), so a send answers `overloaded` instead of
 * hanging; it reconnects by itself.
 */
export class RedisConnection implements Lifecycle {
  readonly client: RedisClient;
  private closed = false;
  private answering = true;
  private prober: NodeJS.Timeout | undefined;
  private probing = false;
  /** What the client last failed with: `connect()` itself only says "Connection is closed". */
  private lastError: string | undefined;

  constructor(
    url: string | undefined,
    clusterNodes: readonly string[],
    private readonly name: string,
    private readonly logger: Logger,
    private readonly opts: RedisConnectionOptions = {},
  ) {
    const queue = opts.queueWhileDown === true;
    const options = {
      lazyConnect: true,
      enableOfflineQueue: queue,
      maxRetriesPerRequest: queue ? null : 1,
      ...(queue ? {} : { commandTimeout: 2000 }),
      connectionName: name,
      enableAutoPipelining: opts.pipeline === true,
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
    };
    this.client =
      clusterNodes.length > 0
        ? new Cluster(clusterNodes.map(parseHostPort), {
            lazyConnect: true,
            enableOfflineQueue: queue,
            enableAutoPipelining: opts.pipeline === true,
            shardedSubscribers: opts.shardedSubscribers === true,
            redisOptions: options,
          })
        : new Redis(url ?? 'redis://127.0.0.1:6379', options);
    const where = clusterNodes.length > 0 ? clusterNodes.join(',') : redactUrl(url ?? '');
    let down = false;
    this.client.on('error', (err: Error) => {
      this.lastError = err.message;
      if (!down) logger.warn({ err: err.message, redis: where, connection: name }, 'redis connection error');
      down = true;
    });
    this.client.on('ready', () => {
      if (down) logger.info({ redis: where, connection: name }, 'redis connection ready again');
      down = false;
    });
  }

  get ready(): boolean {
    return this.client.status === 'ready' && this.answering;
  }

  async start(): Promise<void> {
    try {
      await this.client.connect();
    } catch (err) {
      throw new Error(this.lastError ?? (err instanceof Error ? err.message : String(err)), { cause: err });
    }
    if (this.opts.probe) {
      this.prober = setInterval(() => this.probe(), PROBE_MS);
      this.prober.unref();
    }
  }

  private probe(): void {
    if (this.probing || this.client.status !== 'ready') return;
    this.probing = true;
    this.client.ping().then(
      () => {
        if (!this.answering) this.logger.info({ connection: this.name }, 'redis answers again');
        this.answering = true;
      },
      (err: unknown) => {
        if (this.answering) this.logger.warn({ err, connection: this.name }, 'redis does not answer');
        this.answering = false;
      },
    ).finally(() => (this.probing = false));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.prober) clearInterval(this.prober);
    // quit() on a connection that is down fails (or waits in the offline queue), and on a hung
    // server it waits for ever: what quit() has not closed in time is dropped.
    if (this.ready) {
      const quit = this.client.quit().then(
        () => undefined,
        (err: unknown) => this.logger.warn({ err, connection: this.name }, 'closing redis failed'),
      );
      await Promise.race([quit, new Promise((resolve) => setTimeout(resolve, QUIT_WAIT_MS).unref())]);
    }
    if (this.client.status !== 'end') this.client.disconnect();
  }
}

function parseHostPort(hostPort: string): { host: string; port: number } {
  const i = hostPort.lastIndexOf(':');
  return i < 0 ? { host: hostPort, port: 6379 } : { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}
