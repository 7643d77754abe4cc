import type { Socket } from 'socket.io';
import { CloseCode } from '../shared/close-codes.js';
import type { Logger } from '../shared/logger.js';
import { closeEngine } from './engine-close.js';
import type { PresenceMode } from '../rooms/ports.js';
import { ephemeralTopics, mainTopic, type PushFrame, type Transport } from './transport.js';

/** Rough size of a long-polling packet still queued in engine.io, for the slow-consumer check. */
const POLLING_PACKET_BYTES = 256;

/**
 * Close codes after which a /ws client reconnects by itself (1001 covers a drain and a room
 * reset; after 4008 it backs off first, as the stock client's reconnection delay does). The
 * stock socket.io-client reconnects after a lost transport, never after a server-side
 * disconnect, so these close the engine.io session instead of disconnecting.
 */
const RECONNECT_CODES: ReadonlySet<number> = new Set([CloseCode.DRAINING, CloseCode.SLOW_CONSUMER, CloseCode.RATE_ABUSE]);

interface EngineTransport {
  name: string;
  socket?: { getBufferedAmount?: () => number };
}

/** Transport over a Socket.IO socket: pushes are events named by `t`, rooms are Socket.IO rooms. */
export class SioTransport implements Transport {
  readonly kind = 'sio';
  private ephemeral = true;
  /** The presence mode of each joined room. */
  private modes: Map<string, PresenceMode> | undefined;
  private closing = false;

  constructor(
    readonly socket: Socket,
    private readonly logger: Logger,
  ) {}

  get open(): boolean {
    return this.socket.connected && !this.closing;
  }

  push(frame: PushFrame): void {
    if (!this.open) return;
    const { t, ...payload } = frame;
    this.socket.emit(t, payload);
  }

  subscribe(room: string, presence: PresenceMode): void {
    const before = this.modes?.get(room);
    if (before !== undefined && before !== presence) for (const topic of ephemeralTopics(room, before)) void this.socket.leave(topic);
    (this.modes ??= new Map()).set(room, presence);
    void this.socket.join(this.ephemeral ? [mainTopic(room), ...ephemeralTopics(room, presence)] : mainTopic(room));
  }

  unsubscribe(room: string): void {
    const mode = this.modes?.get(room) ?? 'each';
    this.modes?.delete(room);
    void this.socket.leave(mainTopic(room));
    for (const topic of ephemeralTopics(room, mode)) void this.socket.leave(topic);
  }

  setEphemeral(rooms: Iterable<string>, on: boolean): void {
    this.ephemeral = on;
    for (const room of rooms) {
      for (const topic of ephemeralTopics(room, this.modes?.get(room) ?? 'each')) {
        if (on) void this.socket.join(topic);
        else void this.socket.leave(topic);
      }
    }
  }

  bufferedAmount(): number {
    const conn = this.socket.conn as unknown as { transport: EngineTransport; writeBuffer: unknown[] };
    const ws = conn.transport.name === 'websocket' ? conn.transport.socket : undefined;
    const inSocket = typeof ws?.getBufferedAmount === 'function' ? ws.getBufferedAmount() : 0;
    return inSocket + conn.writeBuffer.length * POLLING_PACKET_BYTES;
  }

  /**
   * Sends `bye` with the code a /ws client would get, then closes: the client sees
   * "transport close" and reconnects for RECONNECT_CODES, "io server disconnect" (no
   * reconnect) for the others. `bye` is queued before the close and goes out first.
   */
  close(code: number, reason: string): void {
    if (!this.open) return;
    this.socket.emit('bye', { code, reason });
    this.closing = true;
    // A DISCONNECT packet, without Socket.IO's own engine close (see closeEngine).
    if (!RECONNECT_CODES.has(code)) this.socket.disconnect();
    closeEngine(this.socket.conn, this.logger);
  }

  ping(): void {
    // engine.io runs its own heartbeat (pingInterval/pingTimeout).
  }
}
