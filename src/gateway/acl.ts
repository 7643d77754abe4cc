import { AuthError } from './auth-error.js';

/** A room pattern is at most one room name (128 chars) plus a trailing `*`. */
const MAX_PATTERN_CHARS = 129;

/**
 * The rooms a token may join and write (docs/protocol.md, "Token claims"). Patterns are exact
 * room names, prefixes ending in `*` (`team-*` allows every room starting with `team-`), or
 * `"*"` (every room). An empty list allows nothing. Immutable once built; `allows` is one Set
 * lookup plus one `startsWith` per distinct prefix, so it is safe on the per-frame path.
 */
export class RoomAcl {
  private readonly all: boolean;
  private readonly exact: ReadonlySet<string>;
  private readonly prefixes: readonly string[];

  constructor(readonly patterns: readonly string[]) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    for (const pattern of patterns) {
      if (pattern.endsWith('*')) prefixes.push(pattern.slice(0, -1));
      else exact.add(pattern);
    }
    this.all = prefixes.includes('');
    this.exact = exact;
    this.prefixes = minimalPrefixes(prefixes);
  }

  allows(room: string): boolean {
    if (this.all || this.exact.has(room)) return true;
    for (const prefix of this.prefixes) {
      if (room.startsWith(prefix)) return true;
    }
    return false;
  }
}

/** Drops duplicates and prefixes covered by a shorter one: the result allows the same rooms. */
function minimalPrefixes(prefixes: readonly string[]): string[] {
  const kept: string[] = [];
  for (const prefix of [...new Set(prefixes)].sort((a, b) => a.length - b.length)) {
    if (!kept.some((k) => prefix.startsWith(k))) kept.push(prefix);
  }
  return kept;
}

/**
 * Validates a token's `rooms` claim (or another claim of room patterns: `mod`). `undefined`
 * (claim absent) gives `undefined`, so the caller applies its default; an array of strings of
 * 1-129 chars is returned as a copy; anything else throws AuthError with reason `bad_claim`,
 * rejecting the whole token.
 */
export function parseRoomsClaim(value: unknown, claim = 'rooms'): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new AuthError('bad_claim', { claim });
  const rooms: string[] = [];
  for (const item of value as unknown[]) {
    if (typeof item !== 'string' || item.length === 0 || item.length > MAX_PATTERN_CHARS) {
      throw new AuthError('bad_claim', { claim });
    }
    rooms.push(item);
  }
  return rooms;
}
