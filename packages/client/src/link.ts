import { ABUSE_MIN_ATTEMPT, backoffDelay, closeAction } from './backoff.js';
import type { CloseAction } from './backoff.js';
import type { Emitter } from './emitter.js';
import { ParleyClientError } from './errors.js';
import type { ClientState, Hello, ParleyEvents } from './events.js';
import { Watchdog } from './heartbeat.js';
import type { ResolvedOptions } from './options.js';
import type { RequestTracker } from './requests.js';
import { TimerGroup } from './timers.js';
import { refreshDelay } from './token.js';
import type { TokenSource } from './token.js';
import { Connection, endpointUrl, tokenRefused } from './transport.js';
import type { CloseInfo } from './transport.js';
import type { HelloPush, ServerFrame } from './push-types.js';

/** What the session above the link hears about its connections. */
export interface LinkHandlers {
  /** A connection said `hello`: it is the current one until `lost`. */
  open(conn: Connection): void;
  /** Any frame but `hello` on the current connection. */
  frame(conn: Connection, frame: ServerFrame): void;
  /** The current connection dropped (a reconnect may follow). */
  lost(conn: Connection): void;
  /** The link stopped for good; `error` is what pending calls reject with. */
  stopped(error: ParleyClientError): void;
}

/** The client's own close code: the socket gave no `hello`, or no frame for 2x heartbeat. */
export const CLIENT_GIVE_UP = 4000;
/** An upgrade refused with HTTP 401 opened no WebSocket to close: it is reported as the protocol's 4001. */
const UNAUTHORIZED = 4001;

/**
 * One connection at a time, replaced after a drop as the close-code table of docs/protocol.md says:
 * exponential backoff with full jitter, a new token after 4001 (or HTTP 401), no reconnect after
 * 4003/1009/4400/1000. Where the WebSocket hides why an upgrade failed (browsers), a `getToken`
 * client fetches a fresh token before the next attempt; a static token keeps being retried. Also owns what lives and dies with a connection: the `hello` deadline, the
 * heartbeat watchdog and the token refresh.
 */
export class Link {
  readonly #timers: TimerGroup;
  /** Timers of the current connection, cleared when it drops. */
  readonly connTimers: TimerGroup;
  #state: ClientState = 'connecting';
  #conn: Connection | undefined;
  #hello: Hello | undefined;
  #opened = false;
  #stopped = false;
  #closing: Promise<void> | undefined;
  #attempt = 0;
  #cancelConnectTimeout: (() => void) | undefined;
  #cancelRefresh: (() => void) | undefined;
  #watchdog: Watchdog | undefined;

  constructor(
    private readonly url: string,
    private readonly tokens: TokenSource,
    private readonly opts: ResolvedOptions,
    private readonly events: Emitter<ParleyEvents>,
    private readonly requests: RequestTracker,
    private readonly handlers: LinkHandlers,
  ) {
    this.#timers = new TimerGroup(opts.clock);
    this.connTimers = new TimerGroup(opts.clock);
  }

  get state(): ClientState {
    return this.#state;
  }

  get hello(): Hello | undefined {
    return this.#hello;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** The current connection, once it said `hello`. */
  get current(): Connection | undefined {
    return this.#hello ? this.#conn : undefined;
  }

  start(): void {
    void this.#dial();
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    const conn = this.#conn;
    this.#conn = undefined;
    this.#closing = conn ? conn.shutdown(1000, 'client closed') : Promise.resolve();
    if (!this.#stopped) {
      this.events.emit('close', { code: 1000, reason: 'client closed', willReconnect: false });
      this.#stop(new ParleyClientError('closed', 'client closed', { closeCode: 1000 }));
    }
    return this.#closing;
  }

  /** Plans the next token refresh from the `exp` the server reported for the current token. */
  scheduleRefresh(exp: number): void {
    this.#cancelRefresh?.();
    const conn = this.current;
    if (!conn || !this.tokens.refreshable) return;
    const delay = refreshDelay(exp, this.opts.clock.now());
    this.#cancelRefresh = this.connTimers.after(delay, () => void this.#refresh(conn, 0));
  }

  async #dial(): Promise<void> {
    let token: string;
    try {
      token = await this.tokens.current();
    } catch (error) {
      if (!this.#stopped) this.#retry('backoff', error);
      return;
    }
    if (this.#stopped) return;
    let conn: Connection;
    try {
      conn = new Connection(this.opts.WebSocket, endpointUrl(this.url, token, this.opts.batch), {
        onFrame: (frame) => this.#onFrame(conn, frame),
        onClose: (info) => this.#onLost(conn, info),
      });
    } catch (error) {
      this.#retry('backoff', error);
      return;
    }
    this.#conn = conn;
    this.#hello = undefined;
    this.#cancelConnectTimeout = this.connTimers.after(this.opts.connectTimeout, () => this.#giveUp(conn, 'no hello'));
  }

  #onFrame(conn: Connection, frame: ServerFrame): void {
    if (conn !== this.#conn) return;
    this.#watchdog?.touch();
    if (frame.t === 'hello') this.#onHello(conn, frame);
    else if (this.#hello) this.handlers.frame(conn, frame);
  }

  #onHello(conn: Connection, frame: HelloPush): void {
    if (this.#hello) return;
    this.#cancelConnectTimeout?.();
    this.#attempt = 0;
    const { t: _t, ...hello } = frame;
    this.#hello = hello;
    this.tokens.setExp(hello.exp);
    this.scheduleRefresh(hello.exp);
    if (hello.heartbeat > 0) {
      const ping = (): void => void this.requests.send(conn, 'ping', {}, this.opts.requestTimeout).catch(() => undefined);
      const dead = (): void => this.#giveUp(conn, 'heartbeat timeout');
      this.#watchdog = new Watchdog(this.opts.clock, this.connTimers, hello.heartbeat * 1000, ping, dead);
    }
    this.#opened = true;
    this.#setState('open');
    this.events.emit('hello', hello);
    if (conn === this.#conn) this.handlers.open(conn);
  }

  /** Fetches a token and presents it with `auth`; failures retry after a backoff until the server gives up (4001). */
  async #refresh(conn: Connection, attempt: number): Promise<void> {
    try {
      const token = await this.tokens.fetch();
      if (conn !== this.#conn) return;
      const reply = await this.requests.send(conn, 'auth', { token }, this.opts.requestTimeout);
      this.tokens.update(token, reply.exp);
      this.scheduleRefresh(reply.exp);
    } catch {
      if (conn !== this.#conn) return;
      const delay = backoffDelay(attempt, this.opts.backoff);
      this.#cancelRefresh = this.connTimers.after(delay, () => void this.#refresh(conn, attempt + 1));
    }
  }

  #giveUp(conn: Connection, reason: string): void {
    conn.abandon(CLIENT_GIVE_UP, reason);
    this.#onLost(conn, { code: CLIENT_GIVE_UP, reason, unauthorized: false, opaqueFailure: false });
  }

  #onLost(conn: Connection, info: CloseInfo): void {
    if (conn !== this.#conn) return;
    const wasOpen = this.#hello !== undefined;
    this.#conn = undefined;
    this.#watchdog = undefined;
    this.connTimers.clear();
    if (wasOpen) this.handlers.lost(conn);
    const fetch = this.opts.fetch;
    if (!info.opaqueFailure || !fetch) return this.#afterLost(info);
    void tokenRefused(fetch, conn.url, this.opts.requestTimeout).then((refused) => {
      if (!this.#stopped && this.#conn === undefined) this.#afterLost(refused ? { ...info, unauthorized: true, opaqueFailure: false } : info);
    });
  }

  #afterLost(lost: CloseInfo): void {
    const info = lost.unauthorized ? { ...lost, code: UNAUTHORIZED, reason: 'unauthorized' } : lost;
    let action = closeAction(info.code, info.unauthorized);
    // Cannot tell a 401 from a network failure here: fetch a fresh token too, but keep backing off.
    if (info.opaqueFailure && this.tokens.refreshable) this.tokens.invalidate();
    if (action === 'token') {
      if (this.tokens.refreshable) this.tokens.invalidate();
      else action = 'stop';
    }
    this.events.emit('close', { code: info.code, reason: info.reason, willReconnect: action !== 'stop' });
    if (this.#stopped) return;
    if (action === 'stop' && info.code === UNAUTHORIZED) {
      return this.#stop(new ParleyClientError('unauthorized', 'the server refused the token (missing, invalid or expired)', { closeCode: UNAUTHORIZED }));
    }
    if (action === 'stop') {
      const why = `closed by the server: ${info.code}${info.reason ? ` ${info.reason}` : ''}`;
      return this.#stop(new ParleyClientError('closed', why, { closeCode: info.code }));
    }
    this.#setState(this.#opened ? 'reconnecting' : 'connecting');
    this.#retry(action);
  }

  #retry(action: CloseAction, error?: unknown): void {
    if (action === 'abuse') this.#attempt = Math.max(this.#attempt, ABUSE_MIN_ATTEMPT);
    const attempt = action === 'now' ? 0 : this.#attempt++;
    const delay = backoffDelay(attempt, this.opts.backoff);
    this.events.emit('reconnect', error === undefined ? { attempt, delay } : { attempt, delay, error });
    if (this.#stopped) return;
    this.#timers.after(delay, () => void this.#dial());
  }

  #stop(error: ParleyClientError): void {
    this.#stopped = true;
    this.#timers.clear();
    this.connTimers.clear();
    this.#watchdog = undefined;
    this.handlers.stopped(error);
    this.#setState('closed');
  }

  #setState(state: ClientState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.events.emit('state', state);
  }
}
