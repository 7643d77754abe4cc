import type { Env } from './schema.js';

/** Webhooks after the fact (docs/webhooks.md), on while WEBHOOK_URL is set. */
export interface WebhookConfig {
  /** May carry credentials: log `origin` only. */
  url: string;
  /** Never logged. */
  secret: string;
  timeoutMs: number;
  maxAttempts: number;
  /** Delay after the first failed attempt, doubling up to `backoffMaxMs`. */
  backoffMs: number;
  backoffMaxMs: number;
  /** Rooms hash to this many partitions, each delivered in order by one request at a time. */
  partitions: number;
}

/**
 * The webhook configuration, or undefined while WEBHOOK_URL is unset. `fail` builds the error
 * that names a bad variable (the caller's ConfigError).
 */
export function webhookConfig(e: Env, fail: (variable: string, message: string) => Error): WebhookConfig | undefined {
  if (e.WEBHOOK_URL === undefined) return undefined;
  if (e.WEBHOOK_SECRET === undefined) throw fail('WEBHOOK_SECRET', 'is required with WEBHOOK_URL: receivers verify each request with it');
  if (e.NATS_URL === undefined) throw fail('WEBHOOK_URL', 'needs NATS_URL: webhook events wait in JetStream until delivered');
  if (e.WEBHOOK_BACKOFF_MAX_MS < e.WEBHOOK_BACKOFF_MS) throw fail('WEBHOOK_BACKOFF_MAX_MS', `must be at least WEBHOOK_BACKOFF_MS (${e.WEBHOOK_BACKOFF_MS})`);
  return {
    url: e.WEBHOOK_URL,
    secret: e.WEBHOOK_SECRET,
    timeoutMs: e.WEBHOOK_TIMEOUT_MS,
    maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
    backoffMs: e.WEBHOOK_BACKOFF_MS,
    backoffMaxMs: e.WEBHOOK_BACKOFF_MAX_MS,
    partitions: e.WEBHOOK_PARTITIONS,
  };
}
