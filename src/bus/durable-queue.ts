import type { Lifecycle } from '../shared/lifecycle.js';
import type { ChatMessage } from '../rooms/types.js';

/**
 * The hand-off of accepted messages to persistence.
 *
 * Guarantees: at-least-once; `publish` resolves only once the message is durable in the queue;
 * publishing the same (room, seq) twice stores it once (the msg id is "room:seq").
 */
export interface DurableQueue extends Lifecycle {
  publish(message: ChatMessage): Promise<void>;
}
