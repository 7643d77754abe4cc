import { expect } from 'vitest';
import type { TestNode } from '../helpers/node.js';

/** Shared by the HTTP-side integration tests (admin API, health, dev mode, logging). */

export interface HttpAnswer {
  status: number;
  contentType: string;
  text: string;
  /** The parsed JSON body, or undefined when the answer is not JSON. */
  json: any;
}

/** One plain HTTP request with exactly the given headers (no default bearer, unlike `node.admin`). */
export async function http(
  node: TestNode,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  const res = await fetch(`${node.httpUrl}${path}`, {
    method,
    headers: opts.headers ?? {},
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text, json };
}

/** Asserts an error answer of docs/protocol.md: the status and `{"error":{code, message}}`. */
export function expectError(answer: { status: number; body: unknown }, status: number, code: string): void {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  expect(answer.body).toEqual({ error: { code, message: expect.any(String) } });
}

/**
 * Waits until `check` returns a value that is not undefined, re-reading server state (an admin
 * or metrics endpoint) until a deadline: for state changes that no push announces.
 */
export async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (last !== undefined) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
