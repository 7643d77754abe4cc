/** A message of the store, by where it is. */
export interface MessageRef {
  room: string;
  seq: number;
}

/**
 * What an erasure (docs/admin-api.md, "Erasing a user's messages") needs of the message store,
 * beside the tombstones every store folds in by itself.
 */
export interface ErasableStore {
  /**
   * Up to `limit` of the messages `user` sent (replies included) that still hold a body,
   * in `room` or in every room, ordered by room and seq.
   */
  authored(user: string, opts: { room?: string | undefined; limit: number }): Promise<MessageRef[]>;
  /** The rooms where `user` has stored messages, tombstones included (their queued copies may remain). */
  authoredRooms(user: string): Promise<string[]>;
  /**
   * Removes the body and meta of messages `seqs` of `room` and of their edits at once, before
   * their tombstones reach the store through the queue; how many stored events changed.
   */
  blank(room: string, seqs: readonly number[]): Promise<number>;
}
