import { afterAll, afterEach, beforeAll } from 'vitest';
import { TestClient, type Kind } from './clients.js';
import { startNode, type TestNode } from './node.js';

/** One node per describe block (blocks run one after the other), so each can have its own env. */
export function nodeFor(env: Record<string, string> = {}): () => TestNode {
  let node: TestNode | undefined;
  beforeAll(async () => {
    node = await startNode(env);
  });
  afterAll(async () => {
    await node?.close();
  });
  return () => {
    if (!node) throw new Error('node not started');
    return node;
  };
}

/** A connect function whose clients are all closed after each test. */
export function trackedClients(): (node: TestNode, kind: Kind, user: string, rooms?: string[] | null) => Promise<TestClient> {
  const open: TestClient[] = [];
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  return async (node, kind, user, rooms) => {
    const c = await TestClient.connect(kind, node, await node.token(user, rooms === undefined ? {} : { rooms }));
    open.push(c);
    return c;
  };
}
