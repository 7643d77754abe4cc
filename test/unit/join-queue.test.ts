import { describe, expect, it } from 'vitest';
import { JoinCancelledError, JoinQueue } from '../../src/rooms/join-queue.js';
import { DependencyError } from '../../src/shared/errors.js';

/** A task the test settles by hand, recording when it started. */
function gate(log: string[], name: string) {
  let settle!: { resolve: (v: string) => void; reject: (e: Error) => void };
  const task = () => {
    log.push(name);
    return new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  };
  return { task, done: (v = name) => settle.resolve(v), fail: (e: Error) => settle.reject(e) };
}

/** Lets every settled promise's continuations run. */
const flush = () => new Promise<void>((r) => setImmediate(r));

describe('JoinQueue', () => {
  it('runs at most `concurrency` tasks, the rest when slots free up', async () => {
    const q = new JoinQueue({ concurrency: 2, maxWaiting: 10 });
    const log: string[] = [];
    const gates = ['a', 'b', 'c', 'd'].map((n) => gate(log, n));
    const results = gates.map((g, i) => q.run(`k${i}`, g.task));
    expect(log).toEqual(['a', 'b']);
    expect([q.running, q.waiting]).toEqual([2, 2]);
    gates[1]!.done();
    await flush();
    expect(log).toEqual(['a', 'b', 'c']);
    gates[0]!.done();
    await flush();
    expect(log).toEqual(['a', 'b', 'c', 'd']);
    gates[2]!.done();
    gates[3]!.done();
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c', 'd']);
    expect([q.running, q.waiting]).toEqual([0, 0]);
  });

  it('starts one key’s tasks in the order they were queued', async () => {
    const q = new JoinQueue({ concurrency: 1, maxWaiting: 10 });
    const log: string[] = [];
    const first = gate(log, 'first');
    const all = [q.run('x', first.task), ...['1', '2', '3'].map((n) => q.run('conn', () => (log.push(n), Promise.resolve(n))))];
    first.done();
    await Promise.all(all);
    expect(log).toEqual(['first', '1', '2', '3']);
  });

  it('lets keys take turns: a key with many tasks does not hold back the others', async () => {
    const q = new JoinQueue({ concurrency: 1, maxWaiting: 100 });
    const log: string[] = [];
    const blocker = gate(log, 'blocker');
    const all: Promise<unknown>[] = [q.run('b', blocker.task)];
    const quick = (key: string, name: string) => all.push(q.run(key, () => (log.push(name), Promise.resolve())));
    for (let i = 1; i <= 4; i++) quick('many', `many${i}`);
    quick('one', 'one');
    quick('two', 'two');
    blocker.done();
    await Promise.all(all);
    expect(log).toEqual(['blocker', 'many1', 'one', 'two', 'many2', 'many3', 'many4']);
  });

  it('refuses with overloaded when maxWaiting tasks wait, and takes new ones once there is room', async () => {
    const q = new JoinQueue({ concurrency: 1, maxWaiting: 1 });
    const log: string[] = [];
    const a = gate(log, 'a');
    const running = q.run('k', a.task);
    const waiting = q.run('k', () => Promise.resolve('b'));
    const refused = q.run('k', () => Promise.resolve('c'));
    await expect(refused).rejects.toBeInstanceOf(DependencyError);
    await expect(refused).rejects.toMatchObject({ code: 'overloaded' });
    a.done();
    await expect(Promise.all([running, waiting])).resolves.toEqual(['a', 'b']);
    await expect(q.run('k', () => Promise.resolve('d'))).resolves.toBe('d');
  });

  it('a failing task rejects only its caller and frees its slot', async () => {
    const q = new JoinQueue({ concurrency: 1, maxWaiting: 10 });
    const log: string[] = [];
    const a = gate(log, 'a');
    const failed = q.run('k', a.task);
    const thrown = q.run('k', () => {
      throw new Error('sync throw');
    });
    const after = q.run('k', () => Promise.resolve('after'));
    a.fail(new Error('redis down'));
    await expect(failed).rejects.toThrow('redis down');
    await expect(thrown).rejects.toThrow('sync throw');
    await expect(after).resolves.toBe('after');
    expect([q.running, q.waiting]).toEqual([0, 0]);
  });

  it('does not run a task cancelled while it waited, and goes on with the next', async () => {
    const q = new JoinQueue({ concurrency: 1, maxWaiting: 10 });
    const log: string[] = [];
    const a = gate(log, 'a');
    let gone = false;
    const running = q.run('k', a.task, () => true);
    const cancelled = q.run('gone', () => (log.push('never'), Promise.resolve('never')), () => gone);
    const next = q.run('other', () => (log.push('next'), Promise.resolve('next')));
    gone = true;
    a.done();
    await expect(running).resolves.toBe('a');
    await expect(cancelled).rejects.toBeInstanceOf(JoinCancelledError);
    await expect(next).resolves.toBe('next');
    expect(log).toEqual(['a', 'next']);
  });

  it('refuses a concurrency below 1', () => {
    expect(() => new JoinQueue({ concurrency: 0, maxWaiting: 1 })).toThrow(RangeError);
  });
});
