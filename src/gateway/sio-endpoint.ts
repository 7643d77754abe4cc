import type { Server, Socket } from 'socket.io';
import type { Limits } from '../config/index.js';
import type { Admission } from './admission.js';
import type { Identity } from './auth.js';
import { closeEngine, type EngineSocket } from './engine-close.js';
import { decodeObject, type FrameLimits } from './frames.js';
import type { Session } from './session.js';
import { handshakeAddress, TokenlessSessions } from './sio-handshakes.js';
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
 * frames the native endpoint produces, so the session layer cannot tell them apart. No
 * engine.io session stays without a valid token: a refused CONNECT closes it at once, and
 * one without an admitted CONNECT is closed after SIO_CONNECT_WINDOW_MS. Needs `io.attachApp`
 * to have run (it listens on `io.engine`).
 */
export function mountSioEndpoint(io: Server, admission: Admission, limits: Limits, hooks: SioHooks): void {
  const frameLimits: FrameLimits = { maxBodyBytes: limits.maxBodyBytes, maxMetaBytes: limits.maxMetaBytes, maxReactionBytes: limits.maxReactionBytes };
  const { logger } = admission;
  const engine = io.engine as Server['engine'] | undefined;
  if (!engine) throw new Error('mountSioEndpoint: attach Socket.IO to the uWS app first');
  const tokenless = new TokenlessSessions(admission.tokenless, admission.addresses, logger);
  engine.on('connection', (conn: EngineSocket) => tokenless.track(conn));

  io.use((socket: Socket, next) => {
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null && typeof (auth as { token?: unknown }).token === 'string' ? (auth as { token: string }).token : undefined;
    const address = handshakeAddress(socket.conn.request, admission.addresses);
    admission.admit(socket.handshake.headers.origin, token, { address, handshake: false }, () => socket.conn.readyState !== 'open').then(
      (verdict) => {
        if (!verdict.ok) {
          next(new Error(verdict.reason));
          tokenless.refused(socket.conn);
          return;
        }
        if (socket.conn.readyState !== 'open') {
          void admission.release(verdict.identity.user, verdict.connId);
          next(new Error('client went away'));
          return;
        }
        tokenless.admitted(socket.conn);
        (socket.data as SocketData) = { connId: verdict.connId, identity: verdict.identity };
        next();
      },
      (err: unknown) => {
        logger.error({ err }, 'Socket.IO admission failed');
        next(new Error('internal'));
        tokenless.refused(socket.conn);
      },
    );
  });

  io.on('connection', (socket: Socket) => {
    const data = socket.data as SocketData;
    const transport = new SioTransport(socket, logger);
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
      const byClient = reason === 'client namespace disconnect';
      hooks.closed(session, byClient ? 1000 : 1006);
      // The only namespace: an engine.io session left without it would stay open uncounted.
      if (byClient) closeEngine(socket.conn, logger);
    });
  });
}
