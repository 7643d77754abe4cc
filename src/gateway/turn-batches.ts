/** Runs `flush` once the current event-loop turn's work is done. */
export type TurnScheduler = (flush: () => void) => void;

export const endOfTurn: TurnScheduler = (flush) => {
  setImmediate(flush);
};

interface Batch {
  parts: string[];
  /** Approximate size of the frame so far (UTF-16 units): the array brackets and commas included. */
  size: number;
}

/**
 * A room's pushes of one event-loop turn, collected for the clients that accept batched frames
 * (`/ws?batch=1`) and published as one text frame per room when the turn ends: a JSON array of
 * the push objects in the order they were added, or the object itself when it is alone.
 *
 * Contract: for one room, frames are published in the order their pushes were added, and a
 * push added after `flush(room)` goes in a later frame than any added before it. A frame holds
 * at most `maxFrameSize` characters of pushes unless a single push is larger; a push that would
 * pass it closes the room's current frame (published at once) and starts the next one.
 */
export class TurnBatches {
  private readonly rooms = new Map<string, Batch>();
  private scheduled = false;

  constructor(
    private readonly publish: (room: string, frame: string) => void,
    private readonly maxFrameSize: number,
    private readonly schedule: TurnScheduler = endOfTurn,
  ) {}

  /** Rooms with pushes waiting for the end of the turn. */
  get pending(): number {
    return this.rooms.size;
  }

  /** Adds one serialized push object to the room's frame of this turn. */
  add(room: string, push: string): void {
    let batch = this.rooms.get(room);
    if (batch && batch.size + 1 + push.length > this.maxFrameSize) {
      this.flush(room);
      batch = undefined;
    }
    if (!batch) {
      batch = { parts: [], size: 1 };
      this.rooms.set(room, batch);
    }
    batch.parts.push(push);
    batch.size += push.length + 1;
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flushAll());
    }
  }

  /** Publishes the room's waiting pushes now (a push that must not overtake them follows). */
  flush(room: string): void {
    const batch = this.rooms.get(room);
    if (!batch) return;
    this.rooms.delete(room);
    this.publish(room, frameText(batch.parts));
  }

  /** Publishes every room's waiting pushes: the end of the turn. */
  flushAll(): void {
    this.scheduled = false;
    for (const room of [...this.rooms.keys()]) this.flush(room);
  }
}

/** The text frame of serialized push objects: an array of them, or the object itself when alone. */
export function frameText(parts: readonly string[]): string {
  return parts.length === 1 ? parts[0]! : `[${parts.join(',')}]`;
}
