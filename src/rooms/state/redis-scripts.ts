/**
 * The slice of ioredis the Redis adapters use, typed narrowly so that both `Redis` and
 * `Cluster` fit (bullmq does the same). Scripts go through `defineCommand`: EVALSHA, with a
 * reload on NOSCRIPT (after a Redis restart or SCRIPT FLUSH).
 */
export interface RedisScripting {
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void;
}

/** Runs one defined script: the keys first, then the arguments. */
export type ScriptCall = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/** Runs one defined script whose number of keys varies per call. */
export type VariadicScriptCall = (keys: readonly string[], args: readonly (string | number)[]) => Promise<unknown>;

/**
 * Defines `lua` on the client under `name` and returns a typed caller. Names are global per
 * client, so each adapter namespaces its own (`parleyRoom…`, `parleyPresence…`).
 */
export function defineScript(client: RedisScripting, name: string, numberOfKeys: number, lua: string): ScriptCall {
  client.defineCommand(name, { lua, numberOfKeys });
  const fn: unknown = (client as unknown as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new Error(`the Redis client did not define the script ${name}`);
  return (...args) => (fn as (...a: (string | number)[]) => Promise<unknown>).apply(client, args);
}

/** Like defineScript, for a script that takes a different number of keys on each call. */
export function defineVariadicScript(client: RedisScripting, name: string, lua: string): VariadicScriptCall {
  client.defineCommand(name, { lua });
  const fn: unknown = (client as unknown as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new Error(`the Redis client did not define the script ${name}`);
  // Without numberOfKeys, ioredis takes the key count as the first argument.
  return (keys, args) => (fn as (...a: (string | number)[]) => Promise<unknown>).apply(client, [keys.length, ...keys, ...args]);
}

/** `{<prefix>:<name>}`: a Redis Cluster hash tag; every key of one script must share it. */
export function hashTag(prefix: string, name: string): string {
  return `{${prefix}:${name}}`;
}

export function asNumber(reply: unknown, what: string): number {
  const n = typeof reply === 'number' ? reply : typeof reply === 'string' ? Number(reply) : NaN;
  if (!Number.isFinite(n)) throw new Error(`unexpected Redis reply for ${what}`);
  return n;
}

export function asString(reply: unknown, what: string): string {
  if (typeof reply !== 'string') throw new Error(`unexpected Redis reply for ${what}`);
  return reply;
}

export function asArray(reply: unknown, what: string): unknown[] {
  if (!Array.isArray(reply)) throw new Error(`unexpected Redis reply for ${what}`);
  return reply as unknown[];
}
