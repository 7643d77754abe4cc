import type { Lifecycle } from '../shared/lifecycle.js';
import type { QueueErasureResult, QueuedEventHead } from './queue-erasure.js';
import type { ChatMessage, ReadPointer } from '../domain/messages.js';
import type { TraceContext } from '../shared/tracing.js';

/**
 * The hand-off of accepted messages to persistence.
 *
 * Guarantees: at-least-once; `publish` resolves only once the message is durable in the queue;
 * publishing the same (room, seq) twice stores it once (the msg id is "room:seq"). The room's
 * `epoch` travels with the durable copy, so a room Redis lost can be restored in its epoch.
 */
export interface DurableQueue extends Lifecycle {
  /**
   * True while the queue is full of messages not yet persisted and refuses appends: a send is
   * then refused before it takes a seq, rather than sequenced and left pending. Optional: a
   * queue that never fills leaves it out.
   */
  readonly full?: boolean;
  /** `trace` (tracing on): the span the message's trace context is carried on to the workers. */
  publish(message: ChatMessage, epoch?: string, trace?: TraceContext): Promise<void>;
  /** A moved read pointer, on its way to the store like the messages (at-least-once). */
  publishRead(pointer: ReadPointer): Promise<void>;
  /**
   * Deletes the room's queued events `match` picks that the store already holds (an erasure:
   * queue-erasure.ts). Optional: a queue that keeps no copy of its own (the memory one) has none.
   */
  erase?(room: string, match: (e: QueuedEventHead) => boolean): Promise<QueueErasureResult>;
}

/**
 * The queue already holds another message under this one's (room, seq): the room state handed
 * the seq out again (it was restored from a durable copy that missed a message still in flight).
 * The message is not durable; the room must be verified against the durable copy again.
 */
export class SeqTakenError extends Error {
  override readonly name = 'SeqTakenError';
}
