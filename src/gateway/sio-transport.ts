import type { Socket } from 'socket.io';
import { CloseCode } from '../shared/close-codes.js';
import type { Logger } from '../shared/logger.js';
import { closeEngine } from './engine-close.js';
import { ephemeralTopic, mainTopic, type PushFrame, type Transport } from './transport.js';

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

  subscribe(room: string): void {
    void this.socket.join(this.ephemeral ? [mainTopic(room), ephemeralTopic(room)] : mainTopic(room));
  }

  unsubscribe(room: string): void {
    void this.socket.leave(mainTopic(room));
    void this.socket.leave(ephemeralTopic(room));
  }

  setEphemeral(rooms: Iterable<string>, on: boolean): void {
    this.ephemeral = on;
    for (const room of rooms) {
      if (on) void this.socket.join(ephemeralTopic(room));
      else void this.socket.leave(ephemeralTopic(room));
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
