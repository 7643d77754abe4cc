import type { ChatMessage } from '../../domain/messages.js';
import { applyEvent, newSummaryState, stripBody, subjectOf, type SummaryState } from '../../domain/summary.js';

/** `events` (oldest first) without the bodies a delete among them removed: of the message and of its edits. */
export function withoutDeletedBodies(events: readonly ChatMessage[]): ChatMessage[] {
  const deleted = new Set(events.filter((e) => e.op === 'delete').map((e) => e.target));
  if (deleted.size === 0) return [...events];
  return events.map((e) => (deleted.has(e.seq) || (e.op === 'edit' && deleted.has(e.target)) ? stripBody(e) : e));
}

/**
 * The summary states of restored `messages`: what the durable copy folded (`stored`), with the
 * restored `events` about each folded on top (folding is idempotent). Only messages with
 * something to summarize.
 */
export function restoredSummaries(messages: readonly ChatMessage[], events: readonly ChatMessage[], stored: ReadonlyMap<number, SummaryState>): { seq: number; state: SummaryState; editSeqs: number[] }[] {
  const out = new Map<number, { seq: number; state: SummaryState; editSeqs: number[] }>();
  for (const m of messages) {
    const state = stored.get(m.seq);
    if (state) out.set(m.seq, { seq: m.seq, state, editSeqs: [] });
  }
  const bySeq = new Map(messages.map((m) => [m.seq, m]));
  for (const e of events) {
    const subject = subjectOf(e);
    const target = subject === undefined ? undefined : bySeq.get(subject);
    if (!target) continue;
    let entry = out.get(target.seq);
    if (!entry) out.set(target.seq, (entry = { seq: target.seq, state: newSummaryState(target.from), editSeqs: [] }));
    applyEvent(entry.state, e);
    if (e.op === 'edit') entry.editSeqs.push(e.seq);
  }
  return [...out.values()].filter((s) => s.state.changed > 0);
}
