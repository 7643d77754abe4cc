import type { DurablePosition } from '../rooms/state/redis-room-state.js';

type Position = { epoch: string | undefined; seq: number } | undefined;

/**
 * A room's last durable position from every durable copy a gateway can read (the queue, then
 * the long-term store): the highest seq of the newest epoch any of them knows. A copy that
 * fails to answer fails the restore (and so the request): guessing could reuse a seq.
 */
export class CombinedPosition implements DurablePosition {
  constructor(private readonly sources: readonly DurablePosition[]) {}

  async lastPosition(room: string): Promise<Position> {
    const found = (await Promise.all(this.sources.map((s) => s.lastPosition(room)))).filter((p) => p !== undefined);
    // The queue is listed first and holds the newest messages: its epoch wins.
    const epoch = found.find((p) => p.epoch !== undefined)?.epoch;
    if (found.length === 0) return undefined;
    const seq = Math.max(...found.filter((p) => epoch === undefined || p.epoch === undefined || p.epoch === epoch).map((p) => p.seq));
    return { epoch, seq };
  }
}
