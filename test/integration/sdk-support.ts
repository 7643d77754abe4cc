import WebSocket from 'ws';
import { connect } from '../../packages/client/src/index.js';
import type { AuthSource, ChatMessage, ClientOptions, ParleyClient, ParleyEvents } from '../../packages/client/src/index.js';

/** Shared by the SDK integration tests (test/integration/sdk-*.test.ts): real SDK, real node. */

const DEFAULT_WAIT_MS = 5000;

/** Reconnects within milliseconds in tests: the backoff shape is unit-tested elsewhere. */
export const FAST: ClientOptions = { backoff: { base: 20, cap: 200 } };

const open = new Set<ParleyClient>();

/** An SDK client over the `ws` package (Node 20 has no global WebSocket), closed by `closeAll`. */
export function sdk(url: string, auth: AuthSource, options: ClientOptions = {}): ParleyClient {
  const client = connect(url, auth, { WebSocket, ...FAST, ...options });
  open.add(client);
  return client;
}

export async function closeAll(): Promise<void> {
  const all = [...open];
  open.clear();
  await Promise.all(all.map((c) => c.close()));
}

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export function within<T>(promise: Promise<T>, what: string, ms = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The next `type` event of `client` matching `pred`, within a deadline. */
export function next<K extends keyof ParleyEvents>(
  client: ParleyClient,
  type: K,
  pred: (e: ParleyEvents[K]) => boolean = () => true,
  ms = DEFAULT_WAIT_MS,
): Promise<ParleyEvents[K]> {
  let off: (() => void) | undefined;
  const event = new Promise<ParleyEvents[K]>((resolve) => {
    off = client.on(type, (e) => {
      if (!pred(e)) return;
      off?.();
      resolve(e);
    });
  });
  return within(event, `${String(type)} event`, ms).finally(() => off?.());
}

/** Records every `msg` event of a client, and waits until a room holds a number of them. */
export class Inbox {
  readonly messages: ChatMessage[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(client: ParleyClient) {
    client.on('msg', (m) => {
      this.messages.push(m);
      for (const w of [...this.#waiters]) w();
    });
  }

  of(room: string): ChatMessage[] {
    return this.messages.filter((m) => m.room === room);
  }

  seqs(room: string): number[] {
    return this.of(room).map((m) => m.seq);
  }

  /** Resolves once `room` has at least `count` messages recorded. */
  waitCount(room: string, count: number, ms = DEFAULT_WAIT_MS): Promise<ChatMessage[]> {
    return within(
      new Promise<ChatMessage[]>((resolve) => {
        const check = (): void => {
          if (this.of(room).length < count) return;
          this.#waiters.delete(check);
          resolve(this.of(room));
        };
        this.#waiters.add(check);
        check();
      }),
      `${count} messages in ${room} (have ${this.of(room).length})`,
      ms,
    );
  }
}

/** 1..n. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i + 1);
}
