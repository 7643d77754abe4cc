/** What a change event does to the message it names (docs/protocol.md, "Message changes"). */
export type ChangeOp = 'edit' | 'delete' | 'react' | 'unreact';

/** How many users have a reaction on a message, and the first of them in the order they reacted. */
export interface ReactionSummary {
  count: number;
  users: string[];
}

/** The replies in a message's thread and the newest of them. */
export interface RepliesSummary {
  count: number;
  last: { seq: number; from: string; ts: number };
}

/**
 * An event of a room's sequence, as stored, sequenced and delivered: a message (no `op`: the
 * `msg` push without `t`), or a change of the message `target` (`op`: the `change` push without
 * `t`, whose `body` is empty unless it is an edit). Readers (join and history replies) fold a
 * message's summary into it: `version`, `deleted`, `reactions`, `replies` and `changed`.
 */
export interface ChatMessage {
  room: string;
  seq: number;
  cid: string;
  from: string;
  body: string;
  meta?: Record<string, unknown>;
  ts: number;
  /** A reply: the seq of the message whose thread it is in. */
  parent?: number;
  op?: ChangeOp;
  target?: number;
  reaction?: string;
  /** A change: the target's version after an edit or delete. A folded message: its version, when above 1. */
  version?: number;
  /** `react` and `unreact`: the reaction's summary after the change. */
  count?: number;
  users?: string[];
  deleted?: true;
  reactions?: Record<string, ReactionSummary>;
  replies?: RepliesSummary;
  /** The seq of the newest change or reply folded into this copy of a message. */
  changed?: number;
}

/** A change event as clients get it (the `change` push without `t`): only an edit has a body. */
export type WireChange = Omit<ChatMessage, 'body'> & { body?: string };

/** A user's read pointer in a room: the seq they have read up to. */
export interface ReadPointer {
  room: string;
  user: string;
  seq: number;
}

/** A message as the durable queue carries it to the workers and the store. */
export type QueuedMessage = ChatMessage & { epoch?: string };
