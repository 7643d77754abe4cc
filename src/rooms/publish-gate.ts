import type { WindowLimit } from '../config/index.js';
import { dependency, ParleyError } from '../shared/errors.js';
import type { PublishCheck, PublishHook } from './ports.js';
import type { Refusal, SendChecks } from './state/moderation.js';
import type { RateLimiter, WindowVerdict } from './state/rate-limiter.js';
import type { AppendInput, ProbeResult } from './state/room-state.js';

export interface GateDeps {
  /** What the room state would answer the message now (RoomState.probe, or an edit's own). */
  probe: (input: AppendInput, checks: SendChecks) => Promise<ProbeResult>;
  hook?: PublishHook;
  limiter?: RateLimiter;
  /** MSG_RATE_PER_USER per MSG_RATE_WINDOW_S. */
  userMessages?: WindowLimit;
}

/**
 * The checks of a client's message before it takes a seq that the room state's one atomic step
 * (RoomState.appendChecked: dedupe, then ban, mute, slow mode) cannot make by itself: the sender's
 * message rate across the cluster (MSG_RATE_PER_USER) and the before-publish hook. Neither runs
 * for a resend of an accepted cid (its reply must carry its first seq), and the hook runs only for
 * a message the restrictions and the rate let through. With neither configured it costs nothing:
 * no call is made before appendChecked.
 *
 * Order of refusals: banned, muted, slow_mode, user_rate_limited, then the hook's `rejected`.
 */
export class PublishGate {
  constructor(private readonly deps: GateDeps) {}

  /** True when `screen` has work to do: a hook or a message rate is configured. */
  get active(): boolean {
    return this.deps.hook !== undefined || this.rate() !== undefined;
  }

  /**
   * Resolves with the message to append (modified by the hook, or as it came), or rejects with
   * the refusal. `op` and `target` are passed on to the hook (an edit names the seq it changes).
   */
  async screen(input: AppendInput, checks: SendChecks, op: Pick<PublishCheck, 'op' | 'target' | 'parent'> = { op: 'send' }): Promise<AppendInput> {
    const { hook } = this.deps;
    if (!hook) return this.rateOnly(input, checks);
    const [probe, rate] = await Promise.all([this.probe(input, checks), this.take(input.from)]);
    if (probe.kind === 'dup') return input;
    if (probe.kind === 'refused') throw refusalError(input.room, probe.refusal);
    if (rate && !rate.ok) throw this.overRate(rate);
    const verdict = await hook.check({
      ...op,
      room: input.room,
      from: input.from,
      cid: input.cid,
      body: input.body,
      ...(input.meta !== undefined ? { meta: input.meta } : {}),
    });
    if (verdict.action === 'accept') return input;
    const { meta: _old, ...rest } = input;
    return { ...rest, body: verdict.body, ...(verdict.meta !== undefined ? { meta: verdict.meta } : {}) };
  }

  /** Without a hook: the rate alone; a refused send that is a resend (or restricted) says so instead. */
  private async rateOnly(input: AppendInput, checks: SendChecks): Promise<AppendInput> {
    const rate = await this.take(input.from);
    if (!rate || rate.ok) return input;
    const probe = await this.probe(input, checks);
    if (probe.kind === 'dup') return input;
    if (probe.kind === 'refused') throw refusalError(input.room, probe.refusal);
    throw this.overRate(rate);
  }

  private rate(): WindowLimit | undefined {
    return this.deps.limiter ? this.deps.userMessages : undefined;
  }

  private async take(user: string): Promise<WindowVerdict | undefined> {
    const rate = this.rate();
    if (!rate || !this.deps.limiter) return undefined;
    const limiter = this.deps.limiter;
    return dependency('room state', () => limiter.take(`u:${user}`, rate.limit, rate.windowMs));
  }

  private probe(input: AppendInput, checks: SendChecks): Promise<ProbeResult> {
    return dependency('room state', () => this.deps.probe(input, checks));
  }

  private overRate(rate: WindowVerdict): ParleyError {
    const limit = this.rate();
    return new ParleyError('user_rate_limited', `over ${limit?.limit} messages per ${(limit?.windowMs ?? 0) / 1000} s`, { details: { retryAfterMs: rate.retryAfterMs } });
  }
}

/** The error a client gets for a refusal of the room's restrictions. */
export function refusalError(room: string, refusal: Refusal): ParleyError {
  switch (refusal.code) {
    case 'banned':
      return new ParleyError('banned', `banned from "${room}"`, { details: { until: refusal.until } });
    case 'muted':
      return new ParleyError('muted', `muted in "${room}"`, { details: { until: refusal.until } });
    case 'slow_mode':
      return new ParleyError('slow_mode', `"${room}" is in slow mode`, { details: { retryAfterMs: refusal.retryAfterMs } });
  }
}
