import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 16 * 1024;

export interface RawWsOptions {
  port: number;
  path: string;
  localAddress?: string;
  /**
   * Text frames starting with these bytes are only counted (and sampled), never decoded; so is
   * each element starting with them in an array frame (batched pushes).
   */
  countPrefix: Buffer;
  /** Called for counted frames when set: the payload is `buf[start, end)`, valid during the call. */
  onCounted?: (buf: Buffer, start: number, end: number) => void;
  /** Every other text frame, decoded; `ws` is this connection (frames can arrive with the 101). */
  onText: (text: string, ws: RawWs) => void;
  onClose?: (code: number) => void;
  timeoutMs: number;
}

/**
 * A minimal WebSocket client for load generation: it counts the frames it is told to count by
 * their first bytes (no UTF-8 decoding, no JSON), answers pings, and sends with a zero mask
 * key, so one process can take millions of frames per second. Not a general-purpose client.
 */
export class RawWs {
  counted = 0;
  open = false;
  closeCode: number | undefined;
  private rest: Buffer | null = null;
  private readonly socket: Socket;

  private constructor(private readonly opts: RawWsOptions, socket: Socket) {
    this.socket = socket;
  }

  /** Opens the TCP connection and completes the upgrade (HTTP 101) within `timeoutMs`. */
  static connect(opts: RawWsOptions): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      socket.setNoDelay(true);
      const ws = new RawWs(opts, socket);
      let head = Buffer.alloc(0);
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`upgrade timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
      const onHead = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const at = head.indexOf(HEAD_END);
        if (at < 0) {
          if (head.length > MAX_HEAD_BYTES) fail(new Error('upgrade answer too long'));
          return;
        }
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(status)) return fail(new Error(`upgrade refused: ${status}`));
        settled = true;
        clearTimeout(timer);
        socket.off('data', onHead);
        ws.open = true;
        socket.on('data', (c: Buffer) => ws.onData(c));
        const rest = head.subarray(at + HEAD_END.length);
        resolve(ws);
        if (rest.length > 0) ws.onData(rest);
      };
      socket.on('data', onHead);
      socket.once('connect', () => {
        const key = randomBytes(16).toString('base64');
        socket.write(
          `GET ${opts.path} HTTP/1.1\r\nHost: 127.0.0.1:${opts.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      socket.on('error', (err) => fail(err));
      socket.on('close', () => {
        fail(new Error('closed during the upgrade'));
        if (ws.open) {
          ws.open = false;
          opts.onClose?.(ws.closeCode ?? 1006);
        }
      });
    });
  }

  sendText(text: string): void {
    if (!this.open) return;
    this.socket.write(frame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  close(): void {
    if (this.open) this.socket.write(frame(OP_CLOSE, Buffer.from([0x03, 0xe8])));
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = null;
    }
    const n = buf.length;
    let off = 0;
    while (n - off >= 2) {
      const b1 = buf[off + 1]!;
      let len = b1 & 0x7f;
      let h = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        h = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = buf.readUInt32BE(off + 6);
        h = 10;
      }
      if (b1 & 0x80) h += 4;
      const end = off + h + len;
      if (end > n) break;
      this.onFrame(buf[off]! & 0x0f, buf, off + h, end);
      off = end;
    }
    if (off < n) this.rest = Buffer.from(buf.subarray(off));
  }

  private onFrame(op: number, buf: Buffer, start: number, end: number): void {
    if (op === OP_TEXT) {
      const prefix = this.opts.countPrefix;
      let counted = end - start >= prefix.length;
      for (let i = 0; counted && i < prefix.length; i++) counted = buf[start + i] === prefix[i];
      if (counted) {
        this.counted++;
        this.opts.onCounted?.(buf, start, end);
      } else if (buf[start] === 0x5b) {
        for (let at = buf.indexOf(prefix, start); at >= 0 && at < end; at = buf.indexOf(prefix, at + prefix.length)) {
          this.counted++;
          this.opts.onCounted?.(buf, at, end);
        }
      } else {
        this.opts.onText(buf.toString('utf8', start, end), this);
      }
    } else if (op === OP_PING) {
      this.socket.write(frame(OP_PONG, buf.subarray(start, end)));
    } else if (op === OP_CLOSE) {
      this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      this.close();
    }
  }
}

/** A client frame: FIN, masked with the all-zero key, so the payload goes out as it is. */
function frame(op: number, payload: Buffer): Buffer {
  const len = payload.length;
  const h = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(h + 4 + len);
  out[0] = 0x80 | op;
  if (h === 2) out[1] = 0x80 | len;
  else if (h === 4) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(len, 6);
  }
  out.writeUInt32BE(0, h);
  payload.copy(out, h + 4);
  return out;
}
