import { describe, expect, it } from 'vitest';
import { PublishGate, type Probe } from '../../src/rooms/publish-gate.js';
import type { PublishCheck, PublishHook, PublishVerdict } from '../../src/rooms/ports.js';
import { MemoryRateLimiter } from '../../src/rooms/state/rate-limiter.js';
import type { ProbeResult } from '../../src/rooms/state/room-state.js';

/** src/rooms/publish-gate.ts: what runs before a client's message takes a seq, and in which order. */

const input = { room: 'r', from: 'ann', cid: 'c1', body: 'hi', ts: 1 };
const checks = { slowExempt: false };

function recordingHook(verdict: PublishVerdict = { action: 'accept' }): PublishHook & { calls: PublishCheck[] } {
  const calls: PublishCheck[] = [];
  return { calls, check: (m) => (calls.push(m), Promise.resolve(verdict)) };
}

const answering = (result: ProbeResult): Probe => () => Promise.resolve(result);

describe('PublishGate', () => {
  it('does nothing, and calls nothing, without a hook or a message rate', async () => {
    let probed = 0;
    const gate = new PublishGate({ probe: () => (probed++, Promise.resolve({ kind: 'new' })) });
    expect(gate.active).toBe(false);
    expect(await gate.screen(input, checks)).toBe(input);
    expect(probed).toBe(0);
  });

  it('a dup skips the hook; a restriction refuses before the rate and the hook', async () => {
    const hook = recordingHook({ action: 'modify', body: 'changed', meta: undefined });
    const dup = new PublishGate({ probe: answering({ kind: 'dup' }), hook });
    expect(await dup.screen(input, checks)).toBe(input);
    const muted = new PublishGate({ probe: answering({ kind: 'refused', refusal: { code: 'muted', until: null } }), hook });
    await expect(muted.screen(input, checks)).rejects.toMatchObject({ code: 'muted', details: { until: null } });
    expect(hook.calls).toEqual([]);
  });

  it('over the user rate: user_rate_limited, and the hook is not called; a resend is still let through', async () => {
    const hook = recordingHook();
    const limiter = new MemoryRateLimiter();
    const gate = new PublishGate({ probe: answering({ kind: 'new' }), hook, limiter, userMessages: { limit: 1, windowMs: 60_000 } });
    expect(await gate.screen(input, checks)).toBe(input);
    await expect(gate.screen({ ...input, cid: 'c2' }, checks)).rejects.toMatchObject({ code: 'user_rate_limited', details: { retryAfterMs: expect.any(Number) } });
    expect(hook.calls).toHaveLength(1);
    const noHook = new PublishGate({ probe: answering({ kind: 'dup' }), limiter, userMessages: { limit: 1, windowMs: 60_000 } });
    expect(await noHook.screen(input, checks)).toBe(input);
  });

  it('tells the hook what the message is (an edit and its target), with a probe of its own', async () => {
    const hook = recordingHook({ action: 'modify', body: 'edited by the hook', meta: { x: 1 } });
    let editProbed = false;
    const gate = new PublishGate({ probe: answering({ kind: 'dup' }), hook });
    const out = await gate.screen({ ...input, meta: { y: 2 } }, checks, { op: 'edit', target: 7, probe: () => ((editProbed = true), Promise.resolve({ kind: 'new' })) });
    expect(editProbed).toBe(true);
    expect(hook.calls).toEqual([{ op: 'edit', target: 7, room: 'r', from: 'ann', cid: 'c1', body: 'hi', meta: { y: 2 } }]);
    expect(out).toEqual({ ...input, body: 'edited by the hook', meta: { x: 1 } });
  });
});
