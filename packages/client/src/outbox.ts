import type { ParleyClientError } from './errors.js';
import type { SendReply } from './reply-types.js';

const CID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
const CID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;

/** A random client message id: 21 chars of `[A-Za-z0-9_-]` (126 bits, like nanoid). */
export function newCid(): string {
  const bytes = new Uint8Array(21);
  globalThis.crypto.getRandomValues(bytes);
  let cid = '';
  for (const byte of bytes) cid += CID_ALPHABET[byte & 63];
  return cid;
}

export function isValidCid(cid: string): boolean {
  return CID_PATTERN.test(cid);
}

/**
 * - `queued`: waits for a (re)joined room on a ready connection;
 * - `inflight`: sent on the current connection, no reply yet;
 * - `waiting`: refused with a retryable code, resent by a backoff timer.
 */
export type OutboxStatus = 'queued' | 'inflight' | 'waiting';

/** The requests kept until answered: a message, and the changes of one (docs/protocol.md, "Message changes"). */
export type OutboxRequest = 'send' | 'edit' | 'delete' | 'react' | 'unreact';

export interface OutboxEntry {
  readonly room: string;
  readonly cid: string;
  readonly t: OutboxRequest;
  /** The request's fields besides `room` and `cid`. */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly promise: Promise<SendReply>;
  status: OutboxStatus;
  /** Retryable refusals so far: the backoff attempt of the next resend. */
  attempt: number;
}

interface Item extends OutboxEntry {
  resolve(reply: SendReply): void;
  reject(err: ParleyClientError): void;
}

/**
 * The sends (and changes) that have no reply yet, in the order they were made. An entry leaves only
 * with its one result: its reply (a `dup:true` reply too), a non-retryable error, or the
 * client closing for good; so each caller's promise settles exactly once.
 */
export class Outbox {
  readonly #items = new Map<string, Item>();

  get size(): number {
    return this.#items.size;
  }

  /** Adds a request; one of the same (room, cid) still waiting shares that entry. */
  add(room: string, cid: string, t: OutboxRequest, fields: Readonly<Record<string, unknown>>): OutboxEntry {
    const key = keyOf(room, cid);
    const existing = this.#items.get(key);
    if (existing) return existing;
    let resolve!: (reply: SendReply) => void;
    let reject!: (err: ParleyClientError) => void;
    const promise = new Promise<SendReply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const item: Item = { room, cid, t, fields, promise, status: 'queued', attempt: 0, resolve, reject };
    this.#items.set(key, item);
    return item;
  }

  holds(entry: OutboxEntry): boolean {
    return this.#items.get(keyOf(entry.room, entry.cid)) === entry;
  }

  /** Entries with status `queued`, oldest first, of one room or of all. */
  queued(room?: string): OutboxEntry[] {
    return [...this.#items.values()].filter((e) => e.status === 'queued' && (room === undefined || e.room === room));
  }

  resolve(entry: OutboxEntry, reply: SendReply): void {
    const item = this.#take(entry);
    item?.resolve(reply);
  }

  reject(entry: OutboxEntry, err: ParleyClientError): void {
    const item = this.#take(entry);
    item?.reject(err);
  }

  /** After a disconnect: everything not settled is sent again on the next connection. */
  requeueAll(): void {
    for (const item of this.#items.values()) item.status = 'queued';
  }

  rejectRoom(room: string, err: ParleyClientError): void {
    for (const item of [...this.#items.values()]) if (item.room === room) this.reject(item, err);
  }

  rejectAll(err: ParleyClientError): void {
    for (const item of [...this.#items.values()]) this.reject(item, err);
  }

  #take(entry: OutboxEntry): Item | undefined {
    const key = keyOf(entry.room, entry.cid);
    const item = this.#items.get(key);
    if (item !== entry) return undefined;
    this.#items.delete(key);
    return item;
  }
}

function keyOf(room: string, cid: string): string {
  return `${room}\n${cid}`;
}
