import type { DurablePosition, DurableTail } from '../domain/durable-position.js';
import type { SummaryState } from '../domain/summary.js';

/**
 * A room's last durable position from every durable copy a gateway can read (the queue, then
 * the long-term store): the highest seq of the newest epoch any of them knows, and the newest
 * messages they hand over. A copy that fails to answer fails the restore (and so the request):
 * guessing could reuse a seq.
 */
export class CombinedPosition implements DurablePosition {
  constructor(private readonly sources: readonly DurablePosition[]) {}

  async lastPosition(room: string, opts?: { sinceTs?: number }): Promise<DurableTail | undefined> {
    const found = (await Promise.all(this.sources.map((s) => s.lastPosition(room, opts)))).filter((p) => p !== undefined);
    if (found.length === 0) return undefined;
    // The queue is listed first and holds the newest messages: its epoch wins.
    const epoch = found.find((p) => p.epoch !== undefined)?.epoch;
    const same = found.filter((p) => epoch === undefined || p.epoch === undefined || p.epoch === epoch);
    const bySeq = new Map<number, NonNullable<DurableTail['messages']>[number]>();
    for (const p of same) for (const m of p.messages ?? []) if (!bySeq.has(m.seq)) bySeq.set(m.seq, m);
    return { epoch, seq: Math.max(...same.map((p) => p.seq)), messages: [...bySeq.values()].sort((a, b) => a.seq - b.seq) };
  }

  /** The summaries of every copy that folds them (the store); the first copy's win. */
  async summaryStates(room: string, seqs: readonly number[]): Promise<Map<number, SummaryState>> {
    const found = await Promise.all(this.sources.map((s) => (s.summaryStates ? s.summaryStates(room, seqs) : Promise.resolve(undefined))));
    const out = new Map<number, SummaryState>();
    for (const states of found) for (const [seq, state] of states ?? []) if (!out.has(seq)) out.set(seq, state);
    return out;
  }
}
