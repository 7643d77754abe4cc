import { randomBytes } from 'node:crypto';
import { JoinCancelledError, type JoinQueue } from '../rooms/join-queue.js';
import type { Presence } from '../rooms/state/presence.js';
import { DependencyError } from '../shared/errors.js';
import { LogThrottle } from '../shared/log-throttle.js';
import type { Logger } from '../shared/logger.js';
import { annotate, ATTR, inSpan, SpanKind, type Tracer } from '../shared/tracing.js';
import type { AddressLimits, AddressRefusal } from './address-limits.js';
import { AuthError } from './auth-error.js';
import type { Identity } from './auth.js';

export type Admitted = { ok: true; identity: Identity; connId: string };
export type Refused = { ok: false; status: 401 | 403 | 429 | 503; reason: 'unauthorized' | 'origin_not_allowed' | 'too_many_connections' | 'draining' | 'unavailable' | AddressRefusal };

/** Where a connection attempt comes from: its client address, and whether this attempt is a new handshake to count. */
export interface Attempt {
  address: string;
  /** A /ws upgrade counts against HANDSHAKES_PER_ADDRESS here; a Socket.IO CONNECT was counted at its engine.io handshake. */
  handshake: boolean;
}

/**
 * The checks every new connection passes, whichever transport it arrives on: draining,
 * Origin allowlist, handshakes per client address, token, the user's cluster-wide connection
 * cap, and open connections per client address.
 */
export class Admission {
  draining = false;
  /** This node's connections that have not presented a valid token yet, per client address. */
  readonly tokenless = new AddressCounts();
  private readonly origins: Set<string>;
  /** Refusals because a dependency failed (or the join queue is full), throttled per kind. */
  private readonly failures: LogThrottle;

  constructor(
    private readonly verify: (token: string) => Promise<Identity>,
    private readonly presence: Presence,
    allowedOrigins: readonly string[],
    private readonly maxConnsPerUser: number,
    readonly logger: Logger,
    /** Registrations wait here with the joins: a reconnect storm brings both at once. */
    private readonly queue: JoinQueue,
    /** The limits per client address (MAX_CONNS_PER_ADDRESS, HANDSHAKES_PER_ADDRESS). */
    readonly addresses: AddressLimits,
    /** Set while tracing is on: a span per connection attempt (upgrade or Socket.IO handshake). */
    private readonly tracer?: Tracer,
  ) {
    this.origins = new Set(allowedOrigins.map((o) => o.toLowerCase().replace(/\/$/, '')));
    this.failures = new LogThrottle(logger);
  }

  /** Requests without an Origin header come from non-browser clients and are not restricted. */
  originAllowed(origin: string | undefined): boolean {
    if (this.origins.size === 0 || this.origins.has('*') || !origin) return true;
    return this.origins.has(origin.toLowerCase().replace(/\/$/, ''));
  }

  /** What `admit` would refuse a connection with, short of taking a slot in the user's connection cap. */
  async check(origin: string | undefined, token: string | undefined): Promise<Refused | { ok: true; identity: Identity }> {
    const refused = this.refusal(origin, token);
    if (refused || !token) return refused ?? { ok: false, status: 401, reason: 'unauthorized' };
    let identity: Identity;
    try {
      identity = await this.verify(token);
    } catch (err) {
      if (!(err instanceof AuthError)) this.logger.error({ err }, 'token verification failed unexpectedly');
      else this.logger.debug({ reason: err.reason }, 'connection refused: bad token');
      return { ok: false, status: 401, reason: 'unauthorized' };
    }
    return { ok: true, identity };
  }

  /** The checks that need no work: draining, Origin, a token at all. */
  private refusal(origin: string | undefined, token: string | undefined): Refused | undefined {
    return this.blocked(origin) ?? (token ? undefined : { ok: false, status: 401, reason: 'unauthorized' });
  }

  /** Draining, then Origin. */
  private blocked(origin: string | undefined): Refused | undefined {
    if (this.draining) return { ok: false, status: 503, reason: 'draining' };
    if (!this.originAllowed(origin)) return { ok: false, status: 403, reason: 'origin_not_allowed' };
    return undefined;
  }

  /**
   * The checks of `check`, then a slot in the user's connection cap. Token verification and
   * registration take a turn in the join queue: in a reconnect storm they are the work that
   * would otherwise crowd out live traffic. `cancelled`: true once the client went away; what
   * is still queued then is not done.
   */
  admit(origin: string | undefined, token: string | undefined, attempt: Attempt, cancelled?: () => boolean): Promise<Admitted | Refused> {
    return inSpan(this.tracer, 'parley.connect', SpanKind.SERVER, undefined, undefined, undefined, async (span) => {
      const verdict = await this.admitted(origin, token, attempt, cancelled);
      if (span) annotate(span, { [ATTR.outcome]: verdict.ok ? 'admitted' : verdict.reason });
      return verdict;
    });
  }

  private async admitted(origin: string | undefined, token: string | undefined, attempt: Attempt, cancelled?: () => boolean): Promise<Admitted | Refused> {
    const early = this.blocked(origin);
    if (early) return early;
    const over = attempt.handshake ? await this.addresses.handshake(attempt.address) : undefined;
    if (over) return { ok: false, status: 429, reason: over };
    const refused = this.refusal(origin, token);
    if (refused || !token) return refused ?? { ok: false, status: 401, reason: 'unauthorized' };
    try {
      return await this.queue.run(token, () => this.register(origin, token, attempt.address), cancelled);
    } catch (err) {
      // Cancelled: nobody is left to answer, and nothing was registered. A full queue or a
      // dependency down refuses every upgrade of a storm: one line per kind and window.
      if (err instanceof DependencyError) this.failures.error(err.dependency, { err }, 'admitting a connection failed');
      else if (!(err instanceof JoinCancelledError)) this.logger.error({ err }, 'admitting a connection failed');
      return { ok: false, status: 503, reason: 'unavailable' };
    }
  }

  private async register(origin: string | undefined, token: string, address: string): Promise<Admitted | Refused> {
    const checked = await this.check(origin, token);
    if (!checked.ok) return checked;
    const { identity } = checked;
    const connId = randomBytes(9).toString('base64url');
    try {
      if (!(await this.presence.registerConnection(identity.user, connId, this.maxConnsPerUser))) {
        return { ok: false, status: 429, reason: 'too_many_connections' };
      }
    } catch (err) {
      this.logger.error({ err, user: identity.user }, 'registering a connection failed');
      return { ok: false, status: 503, reason: 'unavailable' };
    }
    let over: AddressRefusal | undefined;
    try {
      over = await this.addresses.acquire(address, connId);
    } catch (err) {
      this.logger.error({ err, user: identity.user }, 'counting a connection of its address failed');
      await this.release(identity.user, connId);
      return { ok: false, status: 503, reason: 'unavailable' };
    }
    if (!over) return { ok: true, identity, connId };
    await this.release(identity.user, connId);
    return { ok: false, status: 429, reason: over };
  }

  /** Undoes `admit` for a connection that closed (or never opened). */
  async release(user: string, connId: string): Promise<void> {
    try {
      await Promise.all([this.presence.unregisterConnection(user, connId), this.addresses.release(connId)]);
    } catch (err) {
      this.logger.error({ err, user }, 'unregistering a connection failed');
    }
  }
}

/** A count per client address; an address leaves the map at zero, so it only holds live ones. */
export class AddressCounts {
  private readonly counts = new Map<string, number>();

  get(address: string): number {
    return this.counts.get(address) ?? 0;
  }

  add(address: string): void {
    this.counts.set(address, this.get(address) + 1);
  }

  remove(address: string): void {
    const left = this.get(address) - 1;
    if (left > 0) this.counts.set(address, left);
    else this.counts.delete(address);
  }
}
