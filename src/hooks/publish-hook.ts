import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { HookConfig } from '../config/index.js';
import type { PublishCheck, PublishHook, PublishVerdict } from '../rooms/ports.js';
import { ParleyError } from '../shared/errors.js';
import type { Lifecycle } from '../shared/lifecycle.js';
import { LogThrottle } from '../shared/log-throttle.js';
import { redactUrl, type Logger } from '../shared/logger.js';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';
import { parseVerdict, requestBody, type VerdictLimits } from './verdict.js';

/** How a hook call ended, for `parley_hook_calls_total`. */
export type HookOutcome = 'accept' | 'reject' | 'modify' | 'error' | 'timeout' | 'skipped';

/** Where the hook reports (the node's Prometheus metrics). */
export interface HookMetrics {
  called(outcome: HookOutcome, seconds?: number): void;
  breaker(state: BreakerState): void;
}

/** A hook's answer larger than this is a failure: a verdict is a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;
const BREAKER_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, half_open: 2 };

class HookTimeout extends Error {
  override readonly name = 'HookTimeout';
}

/** Gauge value of a breaker state (0 closed, 1 open, 2 half-open). */
export function breakerValue(state: BreakerState): number {
  return BREAKER_VALUE[state];
}

/**
 * The before-publish hook over HTTP (docs/hooks.md): one POST per new message on keep-alive
 * connections (at most HOOK_MAX_SOCKETS), within HOOK_TIMEOUT_MS, behind a circuit breaker.
 * A failure (timeout, connection error, an answer other than 200 or 204, a malformed verdict)
 * or an open breaker applies HOOK_FAIL: the message is accepted as it came (open) or refused
 * with `overloaded` (closed), so the client resends it with the same cid. Failures are logged
 * once per kind and window; the URL is logged without its password.
 */
export class HttpPublishHook implements PublishHook, Lifecycle {
  private readonly agent: HttpAgent;
  private readonly url: URL;
  private readonly breaker: CircuitBreaker;
  private readonly failures: LogThrottle;

  constructor(
    private readonly config: HookConfig,
    private readonly limits: VerdictLimits,
    private readonly metrics: HookMetrics,
    private readonly logger: Logger,
  ) {
    this.url = new URL(config.url);
    const agentOptions = { keepAlive: true, maxSockets: config.maxSockets };
    this.agent = this.url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.breaker = new CircuitBreaker(config.breaker.failures, config.breaker.cooldownMs, (state) => {
      metrics.breaker(state);
      logger.warn({ hook: redactUrl(config.url), state }, state === 'open' ? 'publish hook breaker opened' : `publish hook breaker ${state.replace('_', '-')}`);
    });
    this.failures = new LogThrottle(logger);
  }

  start(): Promise<void> {
    this.metrics.breaker('closed');
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  async check(message: PublishCheck): Promise<PublishVerdict> {
    if (!this.breaker.allow()) {
      this.metrics.called('skipped');
      return this.failed('breaker_open', undefined);
    }
    const started = process.hrtime.bigint();
    const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
    let verdict;
    try {
      verdict = parseVerdict(await this.post(requestBody(message)), message, this.limits);
    } catch (err) {
      this.breaker.failure();
      const timeout = err instanceof HookTimeout;
      this.metrics.called(timeout ? 'timeout' : 'error', seconds());
      return this.failed(timeout ? 'timeout' : 'error', err);
    }
    this.breaker.success();
    this.metrics.called(verdict.action, seconds());
    if (verdict.action === 'reject') throw new ParleyError('rejected', verdict.message, { details: { reason: verdict.code } });
    return verdict;
  }

  /** HOOK_FAIL for a call that failed or was not made. */
  private failed(kind: 'breaker_open' | 'timeout' | 'error', err: unknown): PublishVerdict {
    const policy = this.config.fail;
    const message = kind === 'breaker_open' ? 'publish hook breaker is open: not called' : 'publish hook call failed';
    this.failures.error(`hook/${kind}`, { ...(err === undefined ? {} : { err }), hook: redactUrl(this.config.url), policy }, message);
    if (policy === 'open') return { action: 'accept' };
    throw new ParleyError('overloaded', 'the publish hook is unavailable, retry with the same cid');
  }

  /**
   * POSTs `body`; resolves with the parsed verdict JSON (204: accept). A keep-alive connection the
   * hook closed just as it was reused fails at once: that one attempt is made again, on a new
   * connection, within the same deadline (as Node's http documentation advises).
   */
  private async post(body: string): Promise<unknown> {
    const deadline = Date.now() + this.config.timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(body, deadline - Date.now());
      } catch (err) {
        if (attempt > 0 || !(err instanceof ReusedSocketReset) || Date.now() >= deadline) throw err instanceof ReusedSocketReset ? err.cause : err;
      }
    }
  }

  private once(body: string, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req: ClientRequest = send(this.url, {
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'parley' },
      });
      const timer = setTimeout(() => req.destroy(new HookTimeout(`no answer within ${this.config.timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        const code = (err as NodeJS.ErrnoException).code;
        reject(req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') ? new ReusedSocketReset(err) : err);
      };
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`the answer is over ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('end', () => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          if (status === 204) return resolve({ action: 'accept' });
          if (status !== 200) return reject(new Error(`the hook answered HTTP ${status}`));
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch {
            reject(new Error('the answer is not JSON'));
          }
        });
      });
      req.end(body);
    });
  }
}

/** A request on a reused keep-alive connection that the hook had closed. */
class ReusedSocketReset extends Error {
  constructor(override readonly cause: unknown) {
    super('the keep-alive connection was closed by the hook');
  }
}
