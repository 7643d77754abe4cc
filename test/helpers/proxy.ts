import { connect, createServer, type Socket } from 'node:net';

/** A TCP proxy between clients and a node, to cut the network under them. */
export interface TcpProxy {
  port: number;
  /** The node's `/ws` through the proxy. */
  wsUrl: string;
  httpUrl: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Socket pairs open now. */
  readonly open: number;
  /**
   * Destroys every proxied socket pair at once, like a network failure: no close frame, no
   * FIN handshake on the WebSocket level; each side sees its socket end. Returns how many pairs.
   */
  dropAll(): number;
  /** New connections are accepted but not forwarded (the network is down) until `resume()`. */
  pause(): void;
  /** Forwards the connections held by `pause()` and every later one. */
  resume(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1, port 0, forwarding to `targetPort` on 127.0.0.1. */
export async function startProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket | undefined]>();
  const held: Socket[] = [];
  let paused = false;
  let accepted = 0;

  const forward = (client: Socket): void => {
    const pair: [Socket, Socket | undefined] = [client, undefined];
    pairs.add(pair);
    if (client.destroyed) return void pairs.delete(pair);
    const upstream = connect(targetPort, '127.0.0.1');
    pair[1] = upstream;
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  };

  const server = createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    client.on('error', () => client.destroy());
    if (paused) held.push(client);
    else forward(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no port');
  const port = address.port;

  const proxy: TcpProxy = {
    port,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    httpUrl: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    dropAll() {
      const all = [...pairs];
      pairs.clear();
      for (const [client, upstream] of all) {
        client.destroy();
        upstream?.destroy();
      }
      for (const client of held.splice(0)) client.destroy();
      return all.length;
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const client of held.splice(0)) forward(client);
    },
    close() {
      proxy.dropAll();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
