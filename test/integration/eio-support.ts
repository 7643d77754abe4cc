import WebSocket from 'ws';
import type { TestNode } from '../helpers/node.js';

/**
 * Raw engine.io v4 requests, below socket.io-client, for the tests of what the server keeps
 * of a session that never presents a token (test/integration/sio-*.test.ts).
 */

export interface EioAnswer {
  status: number;
  text: string;
}

const POLLING = '/socket.io/?EIO=4&transport=polling';

/** One long-polling request; `sid` absent is a handshake. */
export async function eioRequest(node: TestNode, method: 'GET' | 'POST', sid?: string, body?: string): Promise<EioAnswer> {
  const res = await fetch(`${node.httpUrl}${POLLING}${sid ? `&sid=${encodeURIComponent(sid)}` : ''}`, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': 'text/plain;charset=UTF-8' } } : {}),
  });
  return { status: res.status, text: await res.text() };
}

/** A polling handshake; returns the session id. */
export async function eioHandshake(node: TestNode): Promise<string> {
  const answer = await eioRequest(node, 'GET');
  if (answer.status !== 200 || !answer.text.startsWith('0')) throw new Error(`handshake refused: ${answer.status} ${answer.text}`);
  return (JSON.parse(answer.text.slice(1)) as { sid: string }).sid;
}

/**
 * Whether the server still holds session `sid`: a noop packet is posted, which a live session
 * answers 200 and a gone one 400, without the wait of a poll.
 */
export async function eioAlive(node: TestNode, sid: string): Promise<boolean> {
  const answer = await eioRequest(node, 'POST', sid, '6');
  if (answer.status !== 200 && answer.status !== 400) throw new Error(`unexpected answer to a noop: ${answer.status} ${answer.text}`);
  return answer.status === 200;
}

/** The Socket.IO CONNECT packet to the main namespace, as engine.io carries it. */
export function connectPacket(auth?: Record<string, unknown>): string {
  return auth ? `40${JSON.stringify(auth)}` : '40';
}

/**
 * An engine.io WebSocket opened without a session id (the websocket-only handshake), or the
 * HTTP status that refused it.
 */
export function eioWebSocket(node: TestNode): Promise<WebSocket | { status: number }> {
  const ws = new WebSocket(`${node.wsUrl.replace(/\/ws$/, '')}/socket.io/?EIO=4&transport=websocket`);
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.once('error', reject);
    // The engine.io open packet: the session exists.
    ws.once('message', () => resolve(ws));
  });
}
