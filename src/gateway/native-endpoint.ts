import type { Limits } from '../config/index.js';
import type { Logger } from '../shared/logger.js';
import type { Admission } from './admission.js';
import type { Identity } from './auth.js';
import type { CorkAnchor } from './cork-anchor.js';
import { decodeText, type FrameLimits } from './frames.js';
import { statusLine } from './http.js';
import { NativeTransport } from './native-transport.js';
import type { Session } from './session.js';
import { TurnBudget } from './turn-budget.js';
import type { TemplatedApp, WebSocket } from './uws.js';

interface WsData {
  connId: string;
  identity: Identity;
  /** The client asked for batched frames (`?batch=1`). */
  batch: boolean;
  transport?: NativeTransport<WsData>;
  session?: Session;
}

export interface EndpointHooks {
  /** Builds, registers and starts the session of a connection that just opened. */
  opened(connId: string, identity: Identity, transport: NativeTransport<WsData>): Session;
  /** The connection is gone: unregister and leave its rooms. */
  closed(session: Session, code: number): void;
  /** The socket drained some of its unsent bytes. */
  drained(session: Session): void;
}

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * The `batch` query flag of `/ws`: absent, empty or `0` is the default (one push object per
 * frame), `1` opts in to batched frames; any other value is refused (undefined here) rather
 * than guessed, so a client never gets frames it did not expect.
 */
export function parseBatchFlag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === '' || value === '0') return false;
  if (value === '1') return true;
  return undefined;
}

/**
 * Milliseconds of one event-loop turn that admitted upgrades may take (each costs about 0.1 ms:
 * the 101, the open handler, the first frames). In a reconnect storm thousands are admitted at
 * once; past the budget they wait for the next turns, and live clients' frames are read between.
 */
export const UPGRADE_TURN_BUDGET_MS = 4;

/** Room above 2 * SLOW_BYTES for the traffic between two slow-consumer checks (100 ms). */
const BACKSTOP_HEADROOM_BYTES = 4 * 1024 * 1024;

/**
 * How many bytes of replies a client may have asked for and not read yet, on top of 2 *
 * SLOW_BYTES, before it counts as a slow consumer: eight full join or history replies. A reply
 * the server produced must not close the client that asked for it (docs/protocol.md, "Recovery").
 */
export function replyAllowance(recoveryMaxBytes: number): number {
  return 8 * recoveryMaxBytes;
}

/**
 * uWS's own limit on a socket's unsent bytes (/ws and Socket.IO), past which uWS acts by itself:
 * it cuts a /ws socket without a close code (1006) and skips Socket.IO sends, `bye` included.
 * It sits far enough above 2 * SLOW_BYTES plus the reply allowance that the check's 4029 comes first.
 */
export function backpressureBackstop(slowBytes: number, recoveryMaxBytes: number): number {
  return Math.max(4 * slowBytes, 2 * slowBytes + BACKSTOP_HEADROOM_BYTES) + replyAllowance(recoveryMaxBytes);
}

/** The native `/ws` endpoint: upgrade with admission, JSON text frames into the session layer. */
export function mountNativeEndpoint(
  app: TemplatedApp,
  admission: Admission,
  limits: Limits,
  hooks: EndpointHooks,
  logger: Logger,
  recoveryMaxBytes: number,
  anchor: CorkAnchor,
): void {
  const frameLimits: FrameLimits = { maxBodyBytes: limits.maxBodyBytes, maxMetaBytes: limits.maxMetaBytes, maxReactionBytes: limits.maxReactionBytes };
  const upgrades = new TurnBudget(UPGRADE_TURN_BUDGET_MS, (err: unknown) => logger.error({ err }, 'upgrade task failed'));
  app.ws<WsData>('/ws', {
    maxPayloadLength: limits.maxFrameBytes,
    // The slow-consumer check closes at 2x SLOW_BYTES with 4029; this is only the backstop, and
    // closing beats uWS's default of skipping publishes to a socket over its limit.
    maxBackpressure: backpressureBackstop(limits.slowBytes, recoveryMaxBytes),
    closeOnBackpressureLimit: 1,
    idleTimeout: 0,
    sendPingsAutomatically: false,

    upgrade: (res, req, context) => {
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const origin = req.getHeader('origin') || undefined;
      const token = BEARER.exec(req.getHeader('authorization'))?.[1] ?? (req.getQuery('token') || undefined);
      const batch = parseBatchFlag(req.getQuery('batch'));
      const address = admission.addresses.address(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('x-forwarded-for') || undefined);
      if (batch === undefined) {
        // Before admission: a malformed request is refused whatever its token, and counts nowhere.
        res.cork(() => {
          res.writeStatus(statusLine(400)).writeHeader('content-type', 'application/json').end(JSON.stringify({ error: { code: 'bad_request', message: 'batch must be 0 or 1' } }));
        });
        return;
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      admission.admit(origin, token, { address, handshake: true }, () => aborted).then(
        (verdict) => {
          if (aborted) {
            if (verdict.ok) void admission.release(verdict.identity.user, verdict.connId);
            return;
          }
          if (!verdict.ok) {
            res.cork(() => {
              res.writeStatus(statusLine(verdict.status)).writeHeader('content-type', 'application/json').end(JSON.stringify({ error: { code: verdict.reason, message: verdict.reason.replace(/_/g, ' ') } }));
            });
            return;
          }
          upgrades.run(() => {
            if (aborted) {
              void admission.release(verdict.identity.user, verdict.connId);
              return;
            }
            // Not a plain res.cork(): uWS 20.30's cork() can shut the WebSocket it upgraded to down
            // (CorkAnchor says why; test/integration/ws-upgrade.test.ts covers it).
            try {
              anchor.upgrade(res, () => res.upgrade<WsData>({ connId: verdict.connId, identity: verdict.identity, batch }, key, protocol, extensions, context));
            } catch (err) {
              logger.error({ err, user: verdict.identity.user }, 'upgrade failed');
              void admission.release(verdict.identity.user, verdict.connId);
              res.cork(() => res.writeStatus(statusLine(500)).end());
            }
          });
        },
        (err: unknown) => {
          logger.error({ err }, 'upgrade failed');
          if (!aborted) res.cork(() => res.writeStatus(statusLine(500)).end());
        },
      );
    },

    open: (ws) => {
      const data = ws.getUserData();
      const transport = new NativeTransport<WsData>(ws, data.batch);
      data.transport = transport;
      data.session = hooks.opened(data.connId, data.identity, transport);
    },

    message: (ws, message, isBinary) => {
      const session = ws.getUserData().session;
      if (!session) return;
      if (isBinary) {
        session.handle({ ok: false, rid: undefined, error: { code: 'bad_request', message: 'frames are JSON text, not binary' } }, undefined);
        return;
      }
      const decoded = decodeText(Buffer.from(message).toString('utf8'), frameLimits);
      const rid = decoded.rid;
      const transport = ws.getUserData().transport;
      session.handle(
        decoded,
        rid === undefined || !transport
          ? undefined
          : (result) => {
              const text = JSON.stringify({ t: 'reply', rid, ...result });
              transport.sendText(text);
              return text.length;
            },
      );
    },

    pong: (ws) => {
      const session = ws.getUserData().session;
      if (session) session.lastSeen = Date.now();
    },

    drain: (ws) => {
      const session = ws.getUserData().session;
      if (session) hooks.drained(session);
    },

    close: (ws: WebSocket<WsData>, code: number) => {
      const data = ws.getUserData();
      if (data.transport) data.transport.open = false;
      if (data.session) hooks.closed(data.session, code);
    },
  });
  mountTokenCheck(app, admission);
}

/**
 * A plain GET of /ws (no upgrade; uWS passes it on from the route above) answers what an
 * upgrade with the same token would be refused with (401 for a missing or invalid token), or
 * 426 when the upgrade would be admitted, without taking a connection slot. Browsers cannot
 * read the status of a refused upgrade: the SDK asks here after a socket failed before opening.
 */
function mountTokenCheck(app: TemplatedApp, admission: Admission): void {
  app.get('/ws', (res, req) => {
    const origin = req.getHeader('origin') || undefined;
    const token = BEARER.exec(req.getHeader('authorization'))?.[1] ?? (req.getQuery('token') || undefined);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    void admission.check(origin, token).then((checked) => {
      if (aborted) return;
      const status = checked.ok ? 426 : checked.status;
      const code = checked.ok ? 'upgrade_required' : checked.reason;
      res.cork(() => {
        res.writeStatus(statusLine(status)).writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store');
        // Readable cross-origin only by the origins allowed to connect.
        if (origin !== undefined && admission.originAllowed(origin)) res.writeHeader('access-control-allow-origin', origin).writeHeader('vary', 'origin');
        if (checked.ok) res.writeHeader('upgrade', 'websocket');
        res.end(JSON.stringify({ error: { code, message: code.replace(/_/g, ' ') } }));
      });
    });
  });
}
