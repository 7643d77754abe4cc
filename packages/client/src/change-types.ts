/**
 * Wire types of message changes (docs/protocol.md, "Message changes", protocol 2): the SDK's own
 * copy, kept in step with docs/protocol.md by hand like types.ts.
 */
import type { Meta, Rid } from './types.js';

/** How many users have a reaction on a message, and the first of them in the order they reacted. */
export interface ReactionSummary {
  count: number;
  users: string[];
}

/** The replies in a message's thread (deleted ones included) and the newest of them. */
export interface RepliesSummary {
  count: number;
  last: { seq: number; from: string; ts: number };
}

/** What a change does to the message it names. */
export type ChangeOp = 'edit' | 'delete' | 'react' | 'unreact';

/** A change of message `target`: an event of the room's sequence (the `change` push without `t`). */
export interface Change {
  room: string;
  seq: number;
  cid: string;
  /** Who made it (an admin delete: the admin API's `from`). */
  from: string;
  ts: number;
  op: ChangeOp;
  target: number;
  /** `edit`: the new body and meta. */
  body?: string;
  meta?: Meta;
  /** `edit` and `delete`: the message's version after the change. */
  version?: number;
  /** `react` and `unreact`: the reaction, and its summary after the change. */
  reaction?: string;
  count?: number;
  users?: string[];
}

/** `edit`: a new body and meta for a message of this user's. */
export interface EditRequest {
  t: 'edit';
  rid?: Rid;
  room: string;
  cid: string;
  target: number;
  body: string;
  meta?: Meta;
}
/** `delete`: delete a message of this user's (a tombstone stays). */
export interface DeleteRequest {
  t: 'delete';
  rid?: Rid;
  room: string;
  cid: string;
  target: number;
}
/** `react`: add this user's reaction to a message. */
export interface ReactRequest {
  t: 'react';
  rid?: Rid;
  room: string;
  cid: string;
  target: number;
  reaction: string;
}
/** `unreact`: remove this user's reaction from a message. */
export interface UnreactRequest {
  t: 'unreact';
  rid?: Rid;
  room: string;
  cid: string;
  target: number;
  reaction: string;
}
/** `change`: an edit, delete, reaction or removed reaction in a joined room. */
export interface ChangePush extends Change {
  t: 'change';
}
