import type { Server, Socket } from 'socket.io';
import type { Limits } from '../config/index.js';
import type { Admission } from './admission.js';
import type { Identity } from './auth.js';
import { decodeObject, type FrameLimits } from './frames.js';
import type { Session } from './session.js';
import { SioTransport } from './sio-transport.js';
import type { ReplyResult } from './transport.js';

interface SocketData {
  connId: string;
  identity: Identity;
}

export interface SioHooks {
  opened(connId: string, identity: Identity, transport: SioTransport): Session;
  closed(session: Session, code: number): void;
}

/**
 * The Socket.IO endpoint: `socket.emit(t, payload, ack)` requests become the same decoded
 * frames the native endpoint produces, so the session layer cannot tell them apart.
 */
export function mountSioEndpoint(io: Server, admission: Admission, limits: Limits, hooks: SioHooks): void {
  const frameLimits: FrameLimits = { maxBodyBytes: limits.maxBodyBytes, maxMetaBytes: limits.maxMetaBytes };

  io.use((socket: Socket, next) => {
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null && typeof (auth as { token?: unknown }).token === 'string' ? (auth as { token: string }).token : undefined;
    admission.admit(socket.handshake.headers.origin, token).then(
      (verdict) => {
        if (!verdict.ok) {
          next(new Error(verdict.reason === 'too_many_connections' ? 'too_many_connections' : verdict.reason === 'unauthorized' ? 'unauthorized' : verdict.reason));
          return;
        }
        if (socket.conn.readyState !== 'open') {
          void admission.release(verdict.identity.user, verdict.connId);
          next(new Error('client went away'));
          return;
        }
        (socket.data as SocketData) = { connId: verdict.connId, identity: verdict.identity };
        next();
      },
      (err: unknown) => next(err instanceof Error ? err : new Error('internal')),
    );
  });

  io.on('connection', (socket: Socket) => {
    const data = socket.data as SocketData;
    const transport = new SioTransport(socket);
    const session = hooks.opened(data.connId, data.identity, transport);
    socket.onAny((event: unknown, ...args: unknown[]) => {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (result: ReplyResult) => void) : undefined;
      const payload: unknown = ack ? (args.length > 1 ? args[0] : {}) : args.length > 0 ? args[0] : {};
      const frame = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? { ...payload, t: event, rid: undefined } : payload;
      const decoded = decodeObject(frame, frameLimits, ack ? 0 : undefined);
      session.handle(decoded, ack);
    });
    socket.on('disconnect', (reason) => {
      hooks.closed(session, reason === 'client namespace disconnect' ? 1000 : 1006);
    });
  });
}
