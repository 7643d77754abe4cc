import type { MessageStore } from '../persistence/message-store.js';
import type { ChatMessage } from '../domain/messages.js';
import type { DurableQueue } from './durable-queue.js';

/**
 * DurableQueue of embedded mode: there is no separate worker, so the queue hands each message
 * straight to the store (idempotent per room:seq). Durable only as long as this process lives.
 */
export class MemoryQueue implements DurableQueue {
  constructor(private readonly store: MessageStore) {}

  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Embedded mode: the memory room state holds the pointers, and nothing outlives the process. */
  publishRead(): Promise<void> {
    return Promise.resolve();
  }

  /** The memory store dies with the process, and the room state with it: no epoch to keep. */
  publish(message: ChatMessage): Promise<void> {
    return this.store.put([message]);
  }
}
