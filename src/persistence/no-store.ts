import type { ChatMessage } from '../domain/messages.js';
import type { SummaryState } from '../domain/summary.js';
import type { ErasableStore, MessageRef } from './erasable-store.js';
import type { MessageStore } from './message-store.js';

/**
 * The gateway side of a deployment whose long-term history is written by workers elsewhere
 * and not configured here (no MONGODB_URL): history and recovery come from the room state's
 * recent buffer only.
 */
export class NoLongTermStore implements MessageStore, ErasableStore {
  start(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  put(): Promise<void> {
    return Promise.resolve();
  }

  range(): Promise<ChatMessage[]> {
    return Promise.resolve([]);
  }

  messages(): Promise<ChatMessage[]> {
    return Promise.resolve([]);
  }

  summaryState(): Promise<SummaryState | 'change' | undefined> {
    return Promise.resolve(undefined);
  }

  lastRead(): Promise<number> {
    return Promise.resolve(0);
  }

  /** An erasure finds the user's messages in the recent buffers only. */
  authored(): Promise<MessageRef[]> {
    return Promise.resolve([]);
  }

  authoredRooms(): Promise<string[]> {
    return Promise.resolve([]);
  }

  blank(): Promise<number> {
    return Promise.resolve(0);
  }
}
