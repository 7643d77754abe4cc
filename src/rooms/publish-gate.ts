import type { WindowLimit } from '../config/index.js';
import { dependency, ParleyError } from '../shared/errors.js';
import type { PublishCheck, PublishHook } from './ports.js';
import type { Refusal, SendChecks } from './state/moderation.js';
import type { RateLimiter, WindowVerdict } from './state/rate-limiter.js';
import type { AppendInput, ProbeResult } from './state/room-state.js';

/** What the room state would answer a message now, changing nothing (RoomState.probe). */
export type Probe = (input: AppendInput, checks: SendChecks) => Promise<ProbeResult>;

/** What the message being screened is, for the hook, and how its dedupe is looked up. */
export interface Screening {
  /** Default `send`. */
  op?: PublishCheck['op'];
  target?: number;
  parent?: number;
  /** Default: the probe of GateDeps (a send's dedupe and the room's restrictions). */
  probe?: Probe;
}

export interface GateDeps {
  probe: Probe;
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
   * the refusal. `as` tells the hook what the message is (`op`; an edit's `target`, a reply's
   * `parent`); `probe` replaces the room state's for an operation deduplicated its own way (an
   * edit's cid), and must answer `dup` for a cid already applied and the room's restrictions.
   */
  async screen(input: AppendInput, checks: SendChecks, as: Screening = {}): Promise<AppendInput> {
    const { hook } = this.deps;
    const probe = as.probe ?? this.deps.probe;
    if (!hook) return this.rateOnly(input, checks, probe);
    const [found, rate] = await Promise.all([dependency('room state', () => probe(input, checks)), this.take(input.from)]);
    if (found.kind === 'dup') return input;
    if (found.kind === 'refused') throw refusalError(input.room, found.refusal);
    if (rate && !rate.ok) throw this.overRate(rate);
    const verdict = await hook.check({
      op: as.op ?? 'send',
      ...(as.target !== undefined ? { target: as.target } : {}),
      ...(as.parent !== undefined ? { parent: as.parent } : {}),
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
  private async rateOnly(input: AppendInput, checks: SendChecks, probe: Probe): Promise<AppendInput> {
    const rate = await this.take(input.from);
    if (!rate || rate.ok) return input;
    const found = await dependency('room state', () => probe(input, checks));
    if (found.kind === 'dup') return input;
    if (found.kind === 'refused') throw refusalError(input.room, found.refusal);
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
