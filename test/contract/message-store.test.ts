import { MongoClient } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import { MemoryMessageStore } from '../../src/persistence/memory-store.js';
import { MongoMessageStore } from '../../src/persistence/mongo-store.js';
import { requireMongo, uniquePrefix } from '../helpers/services.js';
import { messageStoreChangesContract } from './message-store-changes.contract.js';
import { messageStoreContract } from './message-store.contract.js';

const MONGO_URL = 'mongodb://127.0.0.1:27017';
let admin: MongoClient;

beforeAll(async () => {
  await requireMongo();
  admin = await new MongoClient(MONGO_URL, { serverSelectionTimeoutMS: 5_000 }).connect();
});
afterAll(async () => {
  await admin?.close();
});

messageStoreContract('memory', () => Promise.resolve({ store: new MemoryMessageStore(10_000), cleanup: () => Promise.resolve() }));
messageStoreChangesContract('memory', () => Promise.resolve({ store: new MemoryMessageStore(10_000), cleanup: () => Promise.resolve() }));

messageStoreChangesContract('mongodb', () => {
  const dbName = uniquePrefix('store_changes');
  return Promise.resolve({ store: new MongoMessageStore({ url: MONGO_URL, dbName }), cleanup: () => admin.db(dbName).dropDatabase().then(() => undefined) });
});

for (const write of ['insert', 'upsert'] as const) {
  messageStoreContract(`mongodb (${write})`, () => {
    const dbName = uniquePrefix(`store_${write}`);
    return Promise.resolve({
      store: new MongoMessageStore({ url: MONGO_URL, dbName, write }),
      cleanup: async () => {
        await admin.db(dbName).dropDatabase();
      },
    });
  });
}
