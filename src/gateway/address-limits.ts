import type { WindowLimit } from '../config/index.js';
import type { AddressSlots } from '../rooms/state/address-slots.js';
import type { RateLimiter } from '../rooms/state/rate-limiter.js';
import type { LogThrottle } from '../shared/log-throttle.js';

/** Why a connection was refused for its client address (an HTTP 429, or Socket.IO's connect_error). */
export type AddressRefusal = 'too_many_handshakes' | 'too_many_address_connections';

export interface AddressLimitsConfig {
  /** TRUST_PROXY: X-Forwarded-For entries, from the right, written by this deployment's proxies. */
  trustProxy: number;
  /** MAX_CONNS_PER_ADDRESS (0: none); needs `slots`. */
  maxConns: number;
  /** HANDSHAKES_PER_ADDRESS per HANDSHAKE_WINDOW_S; needs `limiter`. */
  handshakes?: WindowLimit;
}

/**
 * The client address of a request: the socket's peer, or, behind `trustProxy` proxies that each
 * append the address they received from to X-Forwarded-For, the entry that many places from its
 * right (the leftmost when the header is shorter). Entries left of it are what the client itself
 * claimed, and are never believed.
 */
export function clientAddress(remote: string, forwardedFor: string | undefined, trustProxy: number): string {
  if (trustProxy === 0 || !forwardedFor) return remote;
  const hops = forwardedFor.split(',').map((a) => a.trim()).filter((a) => a.length > 0);
  if (hops.length === 0) return remote;
  return hops[Math.max(0, hops.length - trustProxy)] ?? remote;
}

/**
 * The limits per client address that hold across the cluster: handshakes per window (/ws
 * upgrades and engine.io handshakes) and open connections. Each costs a Redis call per
 * connection attempt only when it is configured. A rate counter that cannot be reached lets
 * the handshake through (logged): the connection's own admission needs the same Redis and says
 * `unavailable` if it is really down.
 */
export class AddressLimits {
  constructor(
    private readonly config: AddressLimitsConfig,
    private readonly deps: { slots?: AddressSlots; limiter?: RateLimiter; failures: LogThrottle; refused: (reason: AddressRefusal) => void },
  ) {}

  /** Whether `handshake` counts anything (HANDSHAKES_PER_ADDRESS is set). */
  get countsHandshakes(): boolean {
    return this.config.handshakes !== undefined && this.deps.limiter !== undefined;
  }

  address(remote: string, forwardedFor: string | undefined): string {
    return clientAddress(remote, forwardedFor, this.config.trustProxy);
  }

  /** Counts one handshake of `address`; the refusal once it is over HANDSHAKES_PER_ADDRESS. */
  async handshake(address: string): Promise<AddressRefusal | undefined> {
    const { handshakes } = this.config;
    const { limiter } = this.deps;
    if (!handshakes || !limiter) return undefined;
    try {
      if ((await limiter.take(`h:${address}`, handshakes.limit, handshakes.windowMs)).ok) return undefined;
    } catch (err) {
      this.deps.failures.error('handshake-rate', { err }, 'counting a handshake failed: let through');
      return undefined;
    }
    this.deps.refused('too_many_handshakes');
    return 'too_many_handshakes';
  }

  /** Takes a connection slot of `address` for `connId`; the refusal when MAX_CONNS_PER_ADDRESS are open. Throws when the slots cannot be reached. */
  async acquire(address: string, connId: string): Promise<AddressRefusal | undefined> {
    const { slots } = this.deps;
    if (this.config.maxConns === 0 || !slots) return undefined;
    if (await slots.acquire(address, connId, this.config.maxConns)) return undefined;
    this.deps.refused('too_many_address_connections');
    return 'too_many_address_connections';
  }

  async release(connId: string): Promise<void> {
    if (this.config.maxConns > 0) await this.deps.slots?.release(connId);
  }
}
