import type { Env } from './schema.js';

/** A fixed-window limit: at most `limit` per window of `windowMs`. */
export interface WindowLimit {
  limit: number;
  windowMs: number;
}

/** The limits that hold across the cluster (docs/protocol.md, "Limits and backpressure"). */
export interface PolicyConfig {
  /** TRUST_PROXY: X-Forwarded-For entries from the right that name proxies of this deployment. */
  trustProxy: number;
  /** MAX_CONNS_PER_ADDRESS; 0: no limit. */
  maxConnsPerAddress: number;
  /** HANDSHAKES_PER_ADDRESS per HANDSHAKE_WINDOW_S; undefined: no limit. */
  handshakes?: WindowLimit;
  /** MSG_RATE_PER_USER per MSG_RATE_WINDOW_S; undefined: no limit. */
  userMessages?: WindowLimit;
}

/** The before-publish hook (docs/hooks.md); undefined while HOOK_PUBLISH_URL is unset. */
export interface HookConfig {
  /** May hold credentials: never logged. */
  url: string;
  timeoutMs: number;
  /** What a send gets when the hook fails or its breaker is open: accepted (`open`) or `overloaded` (`closed`). */
  fail: 'open' | 'closed';
  maxSockets: number;
  breaker: { failures: number; cooldownMs: number };
}

export function policyConfig(e: Env): PolicyConfig {
  return {
    trustProxy: e.TRUST_PROXY,
    maxConnsPerAddress: e.MAX_CONNS_PER_ADDRESS,
    ...(e.HANDSHAKES_PER_ADDRESS > 0 ? { handshakes: { limit: e.HANDSHAKES_PER_ADDRESS, windowMs: e.HANDSHAKE_WINDOW_S * 1000 } } : {}),
    ...(e.MSG_RATE_PER_USER > 0 ? { userMessages: { limit: e.MSG_RATE_PER_USER, windowMs: e.MSG_RATE_WINDOW_S * 1000 } } : {}),
  };
}

export function hookConfig(e: Env): HookConfig | undefined {
  if (e.HOOK_PUBLISH_URL === undefined) return undefined;
  return {
    url: e.HOOK_PUBLISH_URL,
    timeoutMs: e.HOOK_TIMEOUT_MS,
    fail: e.HOOK_FAIL,
    maxSockets: e.HOOK_MAX_SOCKETS,
    breaker: { failures: e.HOOK_BREAKER_FAILURES, cooldownMs: e.HOOK_BREAKER_COOLDOWN_MS },
  };
}
