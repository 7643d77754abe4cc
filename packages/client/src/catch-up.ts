import { toClientError } from './errors.js';
import type { JoinTicket, RoomTracker } from './rooms.js';
import type { HistoryReply, JoinReply } from './reply-types.js';

/** Messages asked per `history` page of a catch-up (the protocol's most). */
export const CATCH_UP_PAGE = 100;

/** What a catch-up needs of the connection its join was made on. */
export interface CatchUpLink {
  /** `history` with `after` and a limit of CATCH_UP_PAGE. */
  page(after: number): Promise<HistoryReply>;
  /** False once that connection dropped: the rejoin on the next one resumes from what is held. */
  current(): boolean;
  /** A backoff before retrying; ends early when the connection drops. */
  pause(attempt: number): Promise<void>;
}

/**
 * Fetches what a join reply with `more` left out (docs/protocol.md, "Recovery"): `history` pages
 * with `after` the highest seq held, until a page says nothing newer is left. The tracker
 * delivers each page and holds the room's live pushes back until the end. Refusals that may
 * pass (`rate_limited`, `overloaded`, `timeout`) are retried after a backoff; any other ends the
 * catch-up with a `gap` event. Never rejects.
 */
export async function catchUp(rooms: RoomTracker, ticket: JoinTicket, reply: JoinReply, link: CatchUpLink): Promise<void> {
  let attempt = 0;
  while (link.current()) {
    const after = rooms.position(ticket.room)?.seq;
    if (after === undefined) return; // the room was left
    let page: HistoryReply;
    try {
      page = await link.page(after);
    } catch (err) {
      if (!link.current()) return;
      if (toClientError(err).retryable) {
        await link.pause(attempt++);
        continue;
      }
      rooms.abandonCatchUp(ticket, reply.epoch, reply.head);
      return;
    }
    attempt = 0;
    if (!rooms.applyPage(ticket, reply.epoch, page)) return;
  }
}
