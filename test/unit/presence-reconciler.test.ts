// The reconciler's rules, over an index kept in memory: a heartbeat compares sizes only until
// something may have diverged, a pass adds what is missing and removes what nothing holds,
// and a pass whose writes interleaved with a call on the same connection checks again.
import { describe, expect, it } from 'vitest';
import { connEntry, joinEntry } from '../../src/rooms/state/presence-keys.js';
import type { LocalConnections, OpenConnection } from '../../src/rooms/state/presence.js';
import { PresenceReconciler, type OwnEntries } from '../../src/rooms/state/presence-reconciler.js';

class Index implements OwnEntries {
  readonly conns = new Set<string>();
  readonly joins = new Set<string>();
  reads = 0;
  /** Set by a test to run something while a pass is between listing the connections and writing. */
  beforeWrite: (() => void) | undefined;

  counts() {
    return Promise.resolve({ conns: this.conns.size, joins: this.joins.size });
  }
  read() {
    this.reads++;
    return Promise.resolve({ conns: new Set(this.conns), joins: new Set(this.joins) });
  }
  addConn(user: string, connId: string) {
    this.conns.add(connEntry(user, connId));
    return Promise.resolve();
  }
  addJoin(room: string, user: string, connId: string) {
    this.beforeWrite?.();
    this.beforeWrite = undefined;
    this.joins.add(joinEntry(room, user, connId));
    return Promise.resolve(true);
  }
  removeConn(user: string, connId: string) {
    this.conns.delete(connEntry(user, connId));
    return Promise.resolve();
  }
  removeJoin(room: string, user: string, connId: string) {
    this.joins.delete(joinEntry(room, user, connId));
    return Promise.resolve();
  }
}

class Local implements LocalConnections {
  readonly conns = new Map<string, OpenConnection & { joined: Map<string, true> }>();
  all() {
    return this.conns.values();
  }
  has(connId: string) {
    return this.conns.has(connId);
  }
  open(user: string, connId: string, ...rooms: string[]) {
    this.conns.set(connId, { connId, user, joined: new Map(rooms.map((r) => [r, true])) });
  }
}

function setup() {
  const index = new Index();
  const local = new Local();
  const restored: string[] = [];
  const reconciler = new PresenceReconciler(index, (room, user) => restored.push(`${room}/${user}`));
  reconciler.track(local);
  return { index, local, restored, reconciler };
}

describe('PresenceReconciler', () => {
  it('reads every entry at the first check, then only when the sizes differ or something diverged', async () => {
    const { index, local, restored, reconciler } = setup();
    index.conns.add(connEntry('ghost', 'g1'));
    local.open('ann', 'a1', 'r');
    expect(await reconciler.check()).toEqual({ added: 2, removed: 1 });
    expect(restored).toEqual(['r/ann']);
    expect([...index.conns]).toEqual([connEntry('ann', 'a1')]);
    expect(index.reads).toBe(1);

    expect(await reconciler.check()).toBeUndefined();
    expect(index.reads).toBe(1);
    reconciler.diverge();
    expect(await reconciler.check()).toEqual({ added: 0, removed: 0 });
    expect(index.reads).toBe(2);
    index.joins.clear();
    expect(await reconciler.check()).toEqual({ added: 1, removed: 0 });
  });

  it('puts a size difference off for two heartbeats while calls are under way, not longer, and never a divergence', async () => {
    const { index, local, reconciler } = setup();
    local.open('ann', 'a1', 'r');
    await reconciler.check();
    expect(index.reads).toBe(1);
    // A join under way: it is listed locally before its entry is written.
    reconciler.started();
    local.conns.get('a1')?.joined.set('r2', true);
    expect(await reconciler.check()).toBeUndefined();
    expect(await reconciler.check()).toBeUndefined();
    expect(index.reads).toBe(1);
    // Still different at the third heartbeat: compared entry by entry after all.
    expect(await reconciler.check()).toEqual({ added: 1, removed: 0 });
    expect(index.reads).toBe(2);
    // A difference with no call under way is compared at once.
    reconciler.settled();
    index.joins.clear();
    expect(await reconciler.check()).toEqual({ added: 2, removed: 0 });
    // A divergence is compared at once even while calls are under way.
    reconciler.started();
    reconciler.diverge();
    expect(await reconciler.check()).toEqual({ added: 0, removed: 0 });
    expect(index.reads).toBe(4);
  });

  it('a pass that wrote to a connection a call touched meanwhile checks every entry again', async () => {
    const { index, local, reconciler } = setup();
    local.open('bob', 'b1', 'r');
    // While the pass writes, bob leaves r (nothing to remove yet) and starts joining r9.
    index.beforeWrite = () => {
      reconciler.touch('b1');
      const joined = local.conns.get('b1')?.joined;
      joined?.delete('r');
      joined?.set('r9', true);
    };
    await reconciler.check();
    expect([...index.joins]).toEqual([joinEntry('r', 'bob', 'b1')]);
    // One join each side: the sizes agree, yet the interleaving makes the next check read everything.
    expect(await reconciler.check()).toEqual({ added: 1, removed: 1 });
    expect([...index.joins]).toEqual([joinEntry('r9', 'bob', 'b1')]);
    expect(await reconciler.check()).toBeUndefined();
  });

  it('keeps a registration whose connection has not opened yet for a few checks, then drops it', async () => {
    const { index, local, reconciler } = setup();
    reconciler.registered('cy', 'c1');
    index.conns.add(connEntry('cy', 'c1'));
    await reconciler.check();
    expect(index.conns.size).toBe(1);
    local.open('cy', 'c1');
    reconciler.registered('cy', 'c2');
    index.conns.add(connEntry('cy', 'c2'));
    for (let i = 0; i < 3; i++) expect(await reconciler.check()).toBeUndefined();
    expect(await reconciler.check()).toEqual({ added: 0, removed: 1 });
    expect([...index.conns]).toEqual([connEntry('cy', 'c1')]);
    reconciler.released('c1');
    local.conns.delete('c1');
    expect(await reconciler.check()).toEqual({ added: 0, removed: 1 });
  });

  it('does nothing without the node\'s connections to compare with', async () => {
    const index = new Index();
    index.conns.add(connEntry('dee', 'd1'));
    const reconciler = new PresenceReconciler(index, () => undefined);
    reconciler.registered('dee', 'd2');
    expect(await reconciler.check()).toBeUndefined();
    expect(index.reads).toBe(0);
  });
});
