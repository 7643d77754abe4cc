// Private Redis and NATS servers for tests that stop, restart or flush a service: the shared
// ones (6379, 4222) serve other test files running in parallel and must never be touched.
// Each server is a child process on a free loopback port, killed in afterAll (and, as a
// backstop, when the test process exits).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './cluster.js';

const START_DEADLINE_MS = 15_000;
const STOP_DEADLINE_MS = 10_000;
const PROBE_PAUSE_MS = 50;
export const NATS_SERVER = '/usr/sbin/nats-server';

export interface PrivateService {
  readonly port: number;
  readonly url: string;
  /** True between a start that answered and the next stop. */
  readonly running: boolean;
  /** Starts the server (again, on the same port) and resolves once it answers. */
  start(): Promise<void>;
  /** Stops the server and resolves once the process has exited. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Stops the server and removes its files; idempotent. */
  close(): Promise<void>;
}

export interface PrivateRedis extends PrivateService {
  /**
   * Stops the server. `keepData`: `SHUTDOWN SAVE`, so the next `start()` loads every key back (a
   * graceful Redis restart); otherwise SIGKILL, and the next start is empty (no persistence).
   */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  restart(opts?: { keepData?: boolean }): Promise<void>;
  /** Sends one command and resolves with the first line of its reply (`+OK`, `-ERR ...`). */
  command(...args: string[]): Promise<string>;
  /** SIGSTOP: connections stay open but nothing is answered (a hung server) until `thaw()`. */
  freeze(): void;
  /** SIGCONT: the server runs again and answers what it was sent meanwhile. */
  thaw(): void;
}

/** `redis-server --save '' --appendonly no` on a free port, its working directory a fresh temp dir. */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-redis-'));
  const { port, server } = await firstStart((p) => {
    const args = ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir];
    return new ServerProcess('redis-server', 'redis-server', args, dir, () => redisPing(p));
  });
  const stop = (opts: { keepData?: boolean } = {}): Promise<void> =>
    opts.keepData ? server.stopWith(() => redisCommand(port, ['SHUTDOWN', 'SAVE']).catch(() => '')) : server.stopWith();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return server.running;
    },
    start: () => server.start(),
    stop,
    async restart(opts = {}) {
      await stop(opts);
      await server.start();
    },
    close: () => server.close(),
    command: (...args) => redisCommand(port, args),
    freeze: () => server.signal('SIGSTOP'),
    thaw: () => server.signal('SIGCONT'),
  };
}

/** `nats-server -js` on a free port; its JetStream store survives restarts (same `-sd`). */
export async function startPrivateNats(): Promise<PrivateService> {
  const dir = mkdtempSync(join(tmpdir(), 'parley-nats-'));
  const { port, server } = await firstStart((p) => new ServerProcess('nats-server', NATS_SERVER, ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', dir], dir, () => natsInfo(p)));
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get running() {
      return server.running;
    },
    start: () => server.start(),
    stop: () => server.stopWith(),
    async restart() {
      await server.stopWith();
      await server.start();
    },
    close: () => server.close(),
  };
}

/**
 * Starts a server on a free port, on another one if that port was taken meanwhile (a free port
 * is only free until someone binds it). Restarts keep the port: the nodes' URLs name it.
 */
async function firstStart(make: (port: number) => ServerProcess): Promise<{ port: number; server: ServerProcess }> {
  let failure: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const server = make(port);
    try {
      await server.start();
      return { port, server };
    } catch (err) {
      failure = err;
    }
  }
  throw failure;
}

/** One server binary: start and wait until `probe` succeeds, stop and wait for the exit. */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly output: string[] = [];
  private closed = false;
  running = false;

  constructor(
    private readonly name: string,
    private readonly bin: string,
    private readonly args: string[],
    private readonly dir: string,
    private readonly probe: () => Promise<boolean>,
  ) {}

  async start(): Promise<void> {
    if (this.closed) throw new Error(`${this.name} was closed`);
    if (this.child) throw new Error(`${this.name} is already running`);
    const child = spawn(this.bin, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString());
      if (this.output.length > 200) this.output.shift();
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const backstop = () => child.kill('SIGKILL');
    process.once('exit', backstop);
    this.exited = new Promise<void>((resolve) =>
      child.once('exit', () => {
        process.off('exit', backstop);
        if (this.child === child) this.child = undefined;
        this.running = false;
        resolve();
      }),
    );
    const deadline = Date.now() + START_DEADLINE_MS;
    for (let attempt = 0; attempt < START_DEADLINE_MS / PROBE_PAUSE_MS; attempt++) {
      if (this.child !== child) break;
      // Checked again after the probe: an answer from a process other than ours does not count.
      if ((await this.probe()) && this.child === child && child.exitCode === null) {
        this.running = true;
        return;
      }
      if (Date.now() > deadline) break;
      await pause(PROBE_PAUSE_MS);
    }
    const early = this.child !== child;
    child.kill('SIGKILL');
    await this.exited;
    const why = early ? 'exited before answering' : `did not answer within ${START_DEADLINE_MS} ms`;
    throw new Error(`${this.name} ${why}:\n${this.output.join('')}`);
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.child) throw new Error(`${this.name} is not running`);
    this.child.kill(signal);
  }

  /** Runs `gently` (if given) to stop the server, else SIGKILL; SIGKILL anyway past the deadline. */
  async stopWith(gently?: () => Promise<unknown>): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.running = false;
    if (gently) await gently();
    else child.kill('SIGKILL');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_DEADLINE_MS);
    await this.exited;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.stopWith();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Opens a connection, writes `request` (if any), and resolves with the first reply line, or
 * undefined if the connection fails or nothing arrives within the deadline.
 */
function firstLine(port: number, request: string | undefined, deadlineMs = 2_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const finish = (line: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => finish(undefined), deadlineMs);
    socket.once('connect', () => {
      if (request !== undefined) socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf('\r\n');
      if (end >= 0) finish(text.slice(0, end));
    });
    socket.once('error', () => finish(undefined));
    socket.once('close', () => finish(text === '' ? undefined : text));
  });
}

/** RESP-encodes one command; resolves with the first reply line, rejects when nothing answered. */
async function redisCommand(port: number, args: string[]): Promise<string> {
  const resp = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  const line = await firstLine(port, resp, 5_000);
  if (line === undefined) throw new Error(`redis on ${port} did not answer ${args[0] ?? ''}`);
  return line;
}

/** `+PONG` only once the data set is loaded (`-LOADING` before). */
async function redisPing(port: number): Promise<boolean> {
  return (await firstLine(port, '*1\r\n$4\r\nPING\r\n')) === '+PONG';
}

/** A NATS server greets every connection with `INFO {...}`. */
export async function natsInfo(port: number): Promise<boolean> {
  return (await firstLine(port, undefined))?.startsWith('INFO ') ?? false;
}
