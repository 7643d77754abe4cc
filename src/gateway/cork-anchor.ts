import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { Logger } from '../shared/logger.js';
import type { HttpResponse, loadUws, us_listen_socket } from './uws.js';

type Uws = ReturnType<typeof loadUws>;

/** How long opening the anchor may take before the node starts without it. */
const OPEN_TIMEOUT_MS = 5000;

/**
 * Upgrades a uWS response to a WebSocket after an await, inside a corked callback and without
 * uWS 20.30's cork() closing the new WebSocket.
 *
 * Why it takes a second socket: `res.cork(cb)` on a loop where no socket is corked corks `res`,
 * runs `cb`, uncorks, and then reads `res`'s HTTP state to close a `Connection: close` response.
 * It detects an upgrade inside `cb` only by the socket's address changing; but the upgrade
 * reallocates the socket to a smaller size, which glibc does in place, so that read lands in
 * WebSocket memory and, depending on what is there, shuts the new WebSocket down (1006 right
 * after its first frames). When another socket holds the loop's cork, `res.cork(cb)` only runs
 * `cb`: no state read. The uWS.js binding counts any cork callback on the stack as corked, so
 * writes there do not print its "writes must be made from within a corked callback" warning.
 *
 * The anchor is that other socket: a request of this process to itself, on a private loopback
 * listener that is closed as soon as the request arrived, never answered. Its response's cork
 * is free to take whenever JavaScript runs outside uWS's own callbacks.
 *
 * The price: inside the anchor's cork the 101 and the open handler's first frames are written
 * to the client's socket directly, not gathered into one write, as an upgrade outside any cork is.
 */
export class CorkAnchor {
  private held: HttpResponse | undefined;
  private socket: Socket | undefined;
  private closing = false;
  private opening: Promise<void> | undefined;

  constructor(
    private readonly uws: Uws,
    private readonly logger: Logger,
  ) {}

  /** Opens the anchor; a failure is logged and leaves upgrades on the uncorked fallback. */
  start(): Promise<void> {
    this.closing = false;
    this.opening ??= this.open()
      .catch((err: unknown) => this.logger.error({ err }, 'cork anchor unavailable: WebSocket upgrades run uncorked'))
      .finally(() => (this.opening = undefined));
    return this.opening;
  }

  /**
   * Runs `upgrade` (which must call `res.upgrade`) so that it neither runs into the cork bug
   * above nor writes outside a corked callback. Only for code outside uWS callbacks (after an
   * await); inside them uWS has corked `res` already. Without the anchor (not started, or lost)
   * it upgrades uncorked: uWS then warns on stderr, and the WebSocket is safe.
   */
  upgrade(res: HttpResponse, upgrade: () => void): void {
    const held = this.held;
    if (held === undefined) {
      upgrade();
      return;
    }
    held.cork(() => res.cork(upgrade));
  }

  close(): void {
    this.closing = true;
    this.held = undefined;
    this.socket?.destroy();
    this.socket = undefined;
  }

  private async open(): Promise<void> {
    const path = `/${randomBytes(16).toString('hex')}`;
    const app = this.uws.App();
    const arrived = new Promise<HttpResponse>((resolve) => {
      app.get(path, (res) => {
        res.onAborted(() => this.lost(res));
        resolve(res);
      });
    });
    // Anyone else who finds the listener in the moment it is open gets nothing.
    app.any('/*', (res) => {
      res.close();
    });
    const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
      app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('cannot listen on a loopback port'))));
    });
    const port = this.uws.us_socket_local_port(listenSocket);
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', (err) => this.logger.warn({ err }, 'cork anchor connection failed'));
    // The request is never answered: any byte back would be a bug, and is ignored.
    socket.on('data', () => undefined);
    socket.unref();
    this.socket = socket;
    socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`);
    let timer: NodeJS.Timeout | undefined;
    try {
      const res = await Promise.race([
        arrived,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('the anchor request did not arrive')), OPEN_TIMEOUT_MS);
        }),
      ]);
      if (this.closing || this.socket !== socket) {
        socket.destroy();
        return;
      }
      this.held = res;
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
      this.uws.us_listen_socket_close(listenSocket);
    }
  }

  /** The anchor's connection closed: unless the node is closing, open a new one. */
  private lost(res: HttpResponse): void {
    if (this.held !== res) return;
    this.held = undefined;
    if (this.closing) return;
    this.logger.warn('cork anchor lost; opening a new one');
    this.socket?.destroy();
    this.socket = undefined;
    void this.start();
  }
}
