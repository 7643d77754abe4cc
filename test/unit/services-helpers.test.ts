import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it, expect } from 'vitest';
import { requireMongo, requireNats, requireRedis, uniquePrefix } from '../helpers/services.js';

/** A port that was just free: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}

describe('service guards', () => {
  it('resolve when the services run', async () => {
    await expect(requireRedis()).resolves.toBeUndefined();
    await expect(requireNats()).resolves.toBeUndefined();
    await expect(requireMongo()).resolves.toBeUndefined();
  });

  it('reject naming the service when its port is closed', async () => {
    const port = await closedPort();
    await expect(requireRedis(port)).rejects.toThrow(new RegExp(`^Redis is not reachable at 127\\.0\\.0\\.1:${port} `));
    await expect(requireNats(port)).rejects.toThrow(/^NATS is not reachable .*ECONNREFUSED/);
    await expect(requireMongo(port)).rejects.toThrow(/^MongoDB \(FerretDB\) is not reachable/);
  });
});

describe('uniquePrefix', () => {
  it('is t_<name>_<8 hex>, different on every call', () => {
    const a = uniquePrefix('rooms');
    expect(a).toMatch(/^t_rooms_[0-9a-f]{8}$/);
    expect(uniquePrefix('rooms')).not.toBe(a);
  });

  it('keeps only characters valid in keys, subjects and database names', () => {
    const prefix = uniquePrefix(`room.send $x/${'y'.repeat(60)}`);
    expect(prefix).toMatch(/^t_room_send__x_y+_[0-9a-f]{8}$/);
    expect(prefix.length).toBeLessThanOrEqual(63);
  });
});
