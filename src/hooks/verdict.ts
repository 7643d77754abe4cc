import type { PublishCheck, PublishVerdict } from '../rooms/ports.js';

/** A hook's refusal, as the sender will see it (error `rejected`, `reason` = the hook's code). */
export interface HookRejection {
  action: 'reject';
  code: string;
  message: string;
}

export interface VerdictLimits {
  maxBodyBytes: number;
  maxMetaBytes: number;
}

/** The hook answered something this contract does not allow: a hook failure. */
export class MalformedVerdict extends Error {
  override readonly name = 'MalformedVerdict';
}

const CODE_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_MESSAGE = 512;
const DEFAULT_MESSAGE = 'the message was rejected';

/** The JSON body POSTed to the hook: the fields of `message` that are set (docs/hooks.md). */
export function requestBody(message: PublishCheck): string {
  return JSON.stringify(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads a hook's answer (docs/hooks.md, "Answers"): `{"action":"accept"}`,
 * `{"action":"reject","code"?,"message"?}` or `{"action":"modify","body"?,"meta"?}` (`meta: null`
 * removes it; a field left out keeps what the message had). Unknown fields are ignored. A modified
 * body or meta over the limits of a send, or anything else, throws MalformedVerdict.
 */
export function parseVerdict(raw: unknown, message: PublishCheck, limits: VerdictLimits): PublishVerdict | HookRejection {
  if (!isObject(raw)) throw new MalformedVerdict('the answer is not a JSON object');
  switch (raw['action']) {
    case 'accept':
      return { action: 'accept' };
    case 'reject': {
      const code = raw['code'] ?? 'rejected';
      const text = raw['message'] ?? DEFAULT_MESSAGE;
      if (typeof code !== 'string' || !CODE_RE.test(code)) throw new MalformedVerdict('reject: code must be 1-64 chars of [A-Za-z0-9_.:-]');
      if (typeof text !== 'string' || text.length > MAX_MESSAGE) throw new MalformedVerdict(`reject: message must be a string of at most ${MAX_MESSAGE} chars`);
      return { action: 'reject', code, message: text };
    }
    case 'modify': {
      const body = raw['body'] ?? message.body;
      const meta = raw['meta'] === undefined ? message.meta : raw['meta'];
      if (raw['body'] === undefined && raw['meta'] === undefined) throw new MalformedVerdict('modify: body or meta is required');
      if (typeof body !== 'string') throw new MalformedVerdict('modify: body must be a string');
      if (Buffer.byteLength(body, 'utf8') > limits.maxBodyBytes) throw new MalformedVerdict(`modify: body is over ${limits.maxBodyBytes} bytes`);
      if (meta !== null && meta !== undefined) {
        if (!isObject(meta)) throw new MalformedVerdict('modify: meta must be a JSON object or null');
        if (Buffer.byteLength(JSON.stringify(meta), 'utf8') > limits.maxMetaBytes) throw new MalformedVerdict(`modify: meta is over ${limits.maxMetaBytes} bytes`);
      }
      return { action: 'modify', body, meta: meta ?? undefined };
    }
    default:
      throw new MalformedVerdict('action must be accept, reject or modify');
  }
}
