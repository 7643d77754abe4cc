import type { Socket } from 'socket.io';
import type { Logger } from '../shared/logger.js';

/** The engine.io session under a Socket.IO socket. */
export type EngineSocket = Socket['conn'];

/** How long a closing engine.io session waits for its client to collect the packets still queued. */
export const ENGINE_CLOSE_GRACE_MS = 1_000;

/**
 * Closes an engine.io session so that nothing of it outlives `graceMs`, after the packets
 * already queued (a connect_error, a `bye`, a DISCONNECT) have gone out. Over WebSocket they
 * are written at once, then the socket is closed. Over long-polling they leave with the
 * client's next poll, and the session is discarded right after it, or when the grace is over
 * with whatever the client did not collect. engine.io's own orderly close would wait for yet
 * another poll, up to 30 s, and never ends once begun: whoever closes here must not have
 * called `conn.close()` first (Socket.IO's `disconnect(true)` and `connectTimeout` do).
 */
export function closeEngine(conn: EngineSocket, logger: Logger, graceMs = ENGINE_CLOSE_GRACE_MS): void {
  if (isClosed(conn)) return;
  if (conn.transport.name !== 'polling') {
    conn.close();
    return;
  }
  const discard = (): void => {
    clearTimeout(timer);
    conn.off('drain', drained);
    if (isClosed(conn)) return;
    try {
      conn.close(true);
    } catch (err) {
      logger.error({ err, address: conn.remoteAddress }, 'discarding an engine.io session failed');
    }
  };
  // A drain of an earlier write can come after our packets were queued: discard only once
  // nothing is left to send.
  const drained = (): void => {
    if (pendingPackets(conn) === 0) discard();
  };
  const timer = setTimeout(discard, graceMs);
  timer.unref();
  conn.on('drain', drained);
}

function pendingPackets(conn: EngineSocket): number {
  const buffer = (conn as unknown as { writeBuffer?: unknown[] }).writeBuffer;
  return Array.isArray(buffer) ? buffer.length : 0;
}

/** A function, not an inline test: TypeScript would keep the narrowing across `close()`. */
function isClosed(conn: EngineSocket): boolean {
  return conn.readyState === 'closed';
}
