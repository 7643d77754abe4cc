// Redis plumbing for the contract tests: key cleanup per prefix, and a client that fails any
// script call whose keys do not share one hash tag (so the whole suite checks cluster safety).
import { Redis } from 'ioredis';
import { afterEach, beforeAll } from 'vitest';
import { requireRedis, uniquePrefix } from '../helpers/services.js';

/**
 * UNLINKs every key of a prefix in one command, so that whoever else writes under the prefix
 * sees all of them go at once (as with a FLUSHALL), never a half-deleted prefix; the adapters'
 * keys all start with `{<prefix>`.
 */
export async function deleteKeys(client: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  const keys = new Set<string>();
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    for (const k of found) keys.add(k);
  } while (cursor !== '0');
  return keys.size === 0 ? 0 : client.unlink(...keys);
}

/** The part of a key Redis Cluster hashes: what is inside the first non-empty `{…}`, else the key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

/**
 * Wraps `client` so that every script defined through it (defineCommand) rejects, without
 * running, when its keys span more than one hash tag: what Redis Cluster would refuse.
 */
export function tagCheckedClient(client: Redis): Redis {
  const keyCounts = new Map<string, number>();
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'defineCommand') {
        return (name: string, def: { lua: string; numberOfKeys?: number }) => {
          // Without numberOfKeys the key count comes first in each call (-1 marks that).
          keyCounts.set(name, def.numberOfKeys ?? -1);
          target.defineCommand(name, def);
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const count = typeof prop === 'string' ? keyCounts.get(prop) : undefined;
      if (count === undefined) return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const keys = count === -1 ? args.slice(1, 1 + Number(args[0])) : args.slice(0, count);
        const tags = new Set(keys.map((k) => hashTagOf(String(k))));
        if (tags.size > 1) return Promise.reject(new Error(`script ${String(prop)} spans hash tags ${[...tags].join(', ')}`));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/**
 * The shared Redis of a contract test file: a raw client and a tag-checked one, opened before
 * the file's tests, and a prefix per use whose keys go after each test (after `beforeCleanup`).
 */
export function contractRedis(beforeCleanup: () => Promise<unknown> = () => Promise.resolve()): { raw: () => Redis; client: () => Redis; newPrefix: (name: string) => string } {
  let raw: Redis | undefined;
  let checked: Redis | undefined;
  const prefixes: string[] = [];
  beforeAll(async () => {
    await requireRedis();
    raw = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
    checked = tagCheckedClient(raw);
    return async () => void (await raw?.quit());
  });
  afterEach(async () => {
    await beforeCleanup();
    for (const prefix of prefixes.splice(0)) if (raw) await deleteKeys(raw, `{${prefix}*`);
  });
  const need = (r: Redis | undefined): Redis => {
    if (!r) throw new Error('Redis is not connected yet');
    return r;
  };
  return {
    raw: () => need(raw),
    client: () => need(checked),
    newPrefix: (name) => {
      const prefix = uniquePrefix(name);
      prefixes.push(prefix);
      return prefix;
    },
  };
}
