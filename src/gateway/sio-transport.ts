import type { Socket } from 'socket.io';
import { ephemeralTopic, mainTopic, type PushFrame, type Transport } from './transport.js';

/** Rough size of a long-polling packet still queued in engine.io, for the slow-consumer check. */
const POLLING_PACKET_BYTES = 256;

interface EngineTransport {
  name: string;
  socket?: { getBufferedAmount?: () => number };
}

/** Transport over a Socket.IO socket: pushes are events named by `t`, rooms are Socket.IO rooms. */
export class SioTransport implements Transport {
  readonly kind = 'sio';
  private ephemeral = true;
  private closing = false;

  constructor(readonly socket: Socket) {}

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

  /** Sends `bye` with the code a /ws client would get, then disconnects. */
  close(code: number, reason: string): void {
    if (!this.open) return;
    this.socket.emit('bye', { code, reason });
    this.closing = true;
    this.socket.disconnect(true);
  }

  ping(): void {
    // engine.io runs its own heartbeat (pingInterval/pingTimeout).
  }
}
