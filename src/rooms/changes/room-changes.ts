import type { DurableQueue } from '../../bus/durable-queue.js';
import type { MessageStore } from '../../persistence/message-store.js';
import { dependency, DependencyError, ParleyError } from '../../shared/errors.js';
import { annotate, ATTR, inSpan, SpanKind, type TraceContext, type Tracer } from '../../shared/tracing.js';
import type { DeliveryPath } from '../delivery-path.js';
import type { RoomMetrics } from '../ports.js';
import { refusalError, type PublishGate } from '../publish-gate.js';
import type { SendChecks } from '../state/moderation.js';
import type { AppendInput, ChangeInput, ChangeRules, ProbeResult, RoomState, SummarySeed } from '../state/room-state.js';
import { applyEvent, subjectOf } from '../../domain/summary.js';

export interface RoomChangesDeps {
  state: RoomState;
  store: Pick<MessageStore, 'summaryState'>;
  queue: DurableQueue;
  path: DeliveryPath;
  /** The sender's message rate and the before-publish hook, for a reply or an edit. */
  gate: PublishGate;
  metrics: RoomMetrics;
  rules: ChangeRules;
  tracer?: Tracer;
}

/** A change as a member (or the admin API) asks it: an edit, delete, reaction or removed reaction, or a reply (`reply`: a `send` with `parent`). */
export type ChangeRequest = Omit<ChangeInput, 'ts'>;

export interface ChangeReply {
  room: string;
  cid: string;
  seq: number;
  ts: number;
  dup: boolean;
}

/**
 * The operations of docs/protocol.md, "Message changes": each change is sequenced by the room
 * state (which decides, in the same step, whether it is allowed), then made durable and
 * delivered on the path of every message (DeliveryPath), so ordering, recovery, dedupe by cid and
 * persistence hold for changes as they do for `send`.
 */
export class RoomChanges {
  constructor(private readonly deps: RoomChangesDeps) {}

  /**
   * With `checks` (a client's change) the room's restrictions apply, and a reply or an edit also
   * passes the sender's message rate and the before-publish hook (PublishGate) before it takes
   * its seq; without (the admin API) none of them.
   */
  change(request: ChangeRequest, checks?: SendChecks): Promise<ChangeReply> {
    return inSpan(this.deps.tracer, `parley.${request.op}`, SpanKind.SERVER, undefined, request.room, undefined, (trace) => this.changeIn(request, trace, checks));
  }

  private async changeIn(request: ChangeRequest, trace: TraceContext | undefined, checks: SendChecks | undefined): Promise<ChangeReply> {
    const { state, queue, rules, path, metrics } = this.deps;
    if (queue.full) throw new DependencyError('durable queue', 'the durable queue is full of messages not yet persisted, retry');
    const input = await this.screened({ ...request, ts: Date.now() }, checks);
    const opts = checks ? { checks } : {};
    let result = await dependency('room state', () => state.change(input, rules, opts));
    if (result.kind === 'unknown') {
      const seed = await dependency('message store', () => this.seed(request.room, request.target));
      if (!seed) throw new ParleyError('not_found', `no message ${request.target} in this room (or none kept that old)`);
      result = await dependency('room state', () => state.change(input, rules, { ...opts, seed }));
    }
    switch (result.kind) {
      case 'unknown':
      case 'probed':
        throw new DependencyError('room state', 'the room state did not take the message summary, retry');
      case 'restricted':
        throw refusalError(request.room, result.refusal);
      case 'refused':
        throw new ParleyError(result.code, result.reason);
      case 'held':
        return { room: request.room, cid: request.cid, seq: result.seq, ts: result.ts, dup: true };
      case 'appended': {
        const m = result.message;
        if (trace) annotate(trace, { [ATTR.seq]: m.seq, [ATTR.dup]: result.dup });
        await dependency('durable queue', () => path.finish(m, result.epoch, trace ? { retry: true, trace } : { retry: true }));
        metrics.messageAccepted(result.dup);
        return { room: m.room, cid: m.cid, seq: m.seq, ts: m.ts, dup: result.dup };
      }
    }
  }

  /** A reply or an edit of a client, through the gate when it has work (its body may come back changed by the hook). */
  private async screened(input: ChangeInput, checks: SendChecks | undefined): Promise<ChangeInput> {
    const { gate } = this.deps;
    if (!checks || !gate.active || (input.op !== 'reply' && input.op !== 'edit')) return input;
    const message: AppendInput = { room: input.room, from: input.from, cid: input.cid, body: input.body ?? '', ts: input.ts, ...(input.meta !== undefined ? { meta: input.meta } : {}) };
    const as = input.op === 'edit' ? { op: 'edit' as const, target: input.target } : { op: 'send' as const, parent: input.target };
    const out = await gate.screen(message, checks, { ...as, probe: (_m, c) => this.probe(input, c) });
    const { meta: _meta, ...rest } = input;
    return { ...rest, body: out.body, ...(out.meta !== undefined ? { meta: out.meta } : {}) };
  }

  /**
   * What the room state would answer the change now, for the gate: `dup` for nothing new (a
   * resend, or a state that holds it already), the room's restrictions; the change's own rules
   * (`not_found`, `forbidden`) refuse it here, before the hook sees it.
   */
  private async probe(input: ChangeInput, checks: SendChecks): Promise<ProbeResult> {
    const found = await this.deps.state.change(input, this.deps.rules, { checks, probe: true });
    switch (found.kind) {
      case 'appended':
      case 'held':
        return { kind: 'dup' };
      case 'restricted':
        return { kind: 'refused', refusal: found.refusal };
      case 'refused':
        throw new ParleyError(found.code, found.reason);
      case 'probed':
      case 'unknown':
        return { kind: 'new' };
    }
  }

  /**
   * The summary state of message `target` as the durable copy holds it: the store's, with the
   * room's recent events about it folded in on top (the store may lag behind them; folding is
   * idempotent, so what it has already costs nothing). Undefined when `target` is no message.
   */
  private async seed(room: string, target: number): Promise<SummarySeed | undefined> {
    const stored = await this.deps.store.summaryState(room, target);
    if (stored === undefined || stored === 'change') return undefined;
    const head = await this.deps.state.head(room);
    const { durable, pending } = await this.deps.state.read(room, target + 1, head.seq);
    const editSeqs: number[] = [];
    for (const e of [...durable, ...pending].sort((a, b) => a.seq - b.seq)) {
      if (subjectOf(e) !== target) continue;
      applyEvent(stored, e);
      if (e.op === 'edit') editSeqs.push(e.seq);
    }
    return { state: stored, editSeqs };
  }
}
