import { connect, type NatsConnection } from 'nats';
import { redactUrl } from '../shared/logger.js';

/** NATS_URL: one server, or several servers of one cluster. */
export type NatsServers = string | readonly string[];

/** The servers as logs may show them: passwords masked. */
export function describeServers(servers: NatsServers): string {
  return (typeof servers === 'string' ? [servers] : servers).map(redactUrl).join(',');
}

/**
 * Opens a connection to one of `servers` (nats.js tries them in random order), which reconnects
 * for ever, to any listed server or any the cluster announced since: losing one server of a
 * cluster costs a reconnect, not the connection. Every NATS connection of a node or a worker
 * comes from here.
 */
export function connectNats(servers: NatsServers, name: string): Promise<NatsConnection> {
  return connect({ servers: typeof servers === 'string' ? servers : [...servers], name, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
}
