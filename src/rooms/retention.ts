import type { Retention } from '../domain/retention.js';
import type { HistoryState, HistoryStore } from './history.js';

/** The room state as history reads it, without expired events. */
export function retainedState(state: HistoryState, retention: Retention): HistoryState {
  if (!retention.enabled) return state;
  return {
    head: (room) => state.head(room),
    range: async (room, from, to) => retention.keep(await state.range(room, from, to)),
    summaries: (room, seqs, usersShown) => state.summaries(room, seqs, usersShown),
  };
}

/** The message store as history reads it, without expired events. */
export function retainedStore(store: HistoryStore, retention: Retention): HistoryStore {
  if (!retention.enabled) return store;
  return {
    range: async (room, from, to) => retention.keep(await store.range(room, from, to)),
    // The cutoff goes into the query: a page above `after` must not fill up with expired messages.
    messages: async (room, query) => retention.keep(await store.messages(room, { ...query, sinceTs: retention.cutoff() })),
  };
}
