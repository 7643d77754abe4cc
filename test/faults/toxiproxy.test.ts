import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToxiproxyServer, type Proxy } from '../helpers/toxiproxy.js';

// The Toxiproxy helper against the real binary (v2.5.0): each toxic and the partition do to a
// TCP echo server what the fault tests rely on.

type Outcome = { ok: true; ms: number } | { ok: false; error: string };

/** Writes `ping` through `port` and waits for the echo; an error code or 'silent' otherwise. */
function roundTrip(port: number, deadlineMs = 1_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (o: Outcome): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'silent' }), deadlineMs);
    socket.once('connect', () => socket.write('ping'));
    socket.once('data', () => finish({ ok: true, ms: Date.now() - started }));
    socket.once('error', (err: NodeJS.ErrnoException) => finish({ ok: false, error: err.code ?? err.message }));
    socket.once('close', () => finish({ ok: false, error: 'closed' }));
  });
}

describe('toxiproxy helper', () => {
  let toxiproxy: ToxiproxyServer;
  let echo: Server;
  let proxy: Proxy;

  beforeAll(async () => {
    echo = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => undefined));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    toxiproxy = await ToxiproxyServer.start();
    proxy = await toxiproxy.createProxy('echo', `127.0.0.1:${(echo.address() as AddressInfo).port}`);
  });

  afterAll(async () => {
    await toxiproxy?.close();
    echo?.close();
  });

  it('forwards, and adds latency downstream', async () => {
    expect(await roundTrip(proxy.port)).toMatchObject({ ok: true });
    await proxy.addToxic({ type: 'latency', attributes: { latency: 300 } }, { name: 'slow' });
    const slow = await roundTrip(proxy.port);
    expect(slow.ok && slow.ms).toBeGreaterThanOrEqual(290);
    await proxy.removeToxic('slow');
    expect((await proxy.state()).toxics).toEqual([]);
  });

  it('disable refuses connections on the same port until enable', async () => {
    await proxy.disable();
    expect(await roundTrip(proxy.port)).toEqual({ ok: false, error: 'ECONNREFUSED' });
    await proxy.enable();
    expect(await roundTrip(proxy.port)).toMatchObject({ ok: true });
  });

  it('timeout 0 is a blackhole; reset_peer resets; heal undoes both', async () => {
    await proxy.addToxic({ type: 'timeout', attributes: { timeout: 0 } }, { stream: 'upstream' });
    expect(await roundTrip(proxy.port, 500)).toEqual({ ok: false, error: 'silent' });
    await proxy.heal();
    await proxy.addToxic({ type: 'reset_peer', attributes: { timeout: 0 } });
    expect(await roundTrip(proxy.port)).toMatchObject({ ok: false, error: expect.stringMatching(/ECONNRESET|closed/) });
    await proxy.addToxic({ type: 'bandwidth', attributes: { rate: 1 } });
    await proxy.disable();
    await proxy.heal();
    expect(await proxy.state()).toMatchObject({ enabled: true, toxics: [] });
    expect(await roundTrip(proxy.port)).toMatchObject({ ok: true });
  });

  it('reset enables every proxy and clears every toxic; API errors name the status', async () => {
    const other = await toxiproxy.createProxy('echo2', proxy.upstream);
    await other.disable();
    await proxy.addToxic({ type: 'latency', attributes: { latency: 1_000 } });
    await toxiproxy.reset();
    expect(await other.state()).toMatchObject({ enabled: true, toxics: [] });
    expect(await proxy.state()).toMatchObject({ enabled: true, toxics: [] });
    await expect(toxiproxy.createProxy('echo2', proxy.upstream)).rejects.toThrow(/409/);
    await expect(proxy.removeToxic('nothing')).rejects.toThrow(/404/);
  });
});
