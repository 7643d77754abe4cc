// Artillery processor shared by ws.yml and socketio.yml: mints real HS256 tokens with
// JWT_SECRET, speaks Parley's requests (docs/protocol.md) over either transport, and checks that
// every acknowledged message comes back to its sender as a `msg` push. Custom metrics:
//   parley.sent             sends made
//   parley.acked            sends acknowledged with ok:true
//   parley.duplicated       own msg pushes received again (same cid)
//   parley.lost_messages    acknowledged sends whose msg never arrived (the run fails on > 0)
//   parley.ack_ms           send -> reply latency
//   parley.delivery_ms      send -> own msg push latency
//   parley.msgs_received    msg pushes received (own and others')
import { Buffer } from 'node:buffer';
import console from 'node:console';
import { createHmac, randomUUID } from 'node:crypto';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';

const REQUEST_TIMEOUT_MS = 10_000;
const DELIVERY_WAIT_MS = 5_000;
const ROOMS = Number(process.env.LT_ROOMS || 5);
const RUN_ID = process.env.LT_RUN_ID || 'run';
const TOKEN_TTL_S = Number(process.env.LT_TOKEN_TTL_S || 3 * 3600);

/** Per virtual user, keyed by `context.vars` (the ws engine copies `context` after connecting). */
const users = new WeakMap();

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An HS256 JWT with `sub`, `exp` and a `rooms` claim covering the load test's rooms. */
export function mintToken(user, secret = process.env.JWT_SECRET) {
  if (!secret) throw new Error('JWT_SECRET must be set to mint tokens');
  const now = Math.floor(Date.now() / 1000);
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url({ sub: user, iat: now, exp: now + TOKEN_TTL_S, rooms: ['lt-*'] });
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function setup(context) {
  const user = `lt-${RUN_ID}-${randomUUID().slice(0, 12)}`;
  const room = `lt-${RUN_ID}-${Math.floor(Math.random() * ROOMS)}`;
  const token = mintToken(user);
  context.vars.user = user;
  context.vars.room = room;
  context.vars.token = token;
  const state = { user, room, token, nextRid: 1, pending: new Map(), sent: new Map(), acked: new Map(), received: new Set(), onDelivered: undefined };
  users.set(context.vars, state);
  return state;
}

const stateOf = (context) => users.get(context.vars);

/** ws engine `connect.function`: a token in the Authorization header, path /ws. */
export function connectWs(wsArgs, context, done) {
  try {
    const state = setup(context);
    wsArgs.target = `${String(wsArgs.target).replace(/\/+$/, '')}/ws`;
    wsArgs.options = { ...wsArgs.options, headers: { ...wsArgs.options?.headers, authorization: `Bearer ${state.token}` } };
    done();
  } catch (err) {
    done(err);
  }
}

/** Socket.IO: mint the token the `connect` step passes as `auth.token`. */
export function setupSio(context, events, done) {
  try {
    setup(context);
    done();
  } catch (err) {
    done(err);
  }
}

function onMsg(state, events, msg) {
  events.emit('counter', 'parley.msgs_received', 1);
  if (msg.from !== state.user) return;
  const sentAt = state.sent.get(msg.cid);
  if (sentAt === undefined) return;
  if (state.received.has(msg.cid)) {
    events.emit('counter', 'parley.duplicated', 1);
    return;
  }
  state.received.add(msg.cid);
  events.emit('histogram', 'parley.delivery_ms', Date.now() - sentAt);
  state.onDelivered?.();
}

function onServerError(events, code) {
  events.emit('counter', 'parley.error_pushes', 1);
  events.emit('error', `server error push: ${code}`);
}

/** Starts listening for pushes and replies on the connection the engine opened. */
export function attach(context, events, done) {
  const state = stateOf(context);
  if (context.ws) {
    state.request = (t, payload) => {
      const rid = state.nextRid++;
      return new Promise((resolve) => {
        state.pending.set(rid, resolve);
        context.ws.send(JSON.stringify({ t, rid, ...payload }));
      });
    };
    context.ws.on('message', (data) => {
      let frame;
      try {
        frame = JSON.parse(String(data));
      } catch {
        return;
      }
      if (frame.t === 'reply') {
        const resolve = state.pending.get(frame.rid);
        state.pending.delete(frame.rid);
        resolve?.({ ok: frame.ok, data: frame.data, error: frame.error });
      } else if (frame.t === 'msg') onMsg(state, events, frame);
      else if (frame.t === 'error') onServerError(events, frame.code);
    });
  } else {
    const socket = context.sockets?.[''];
    if (!socket) return done(new Error('no Socket.IO connection: the connect step must come first'));
    state.request = (t, payload) => new Promise((resolve) => socket.emit(t, payload, resolve));
    socket.on('msg', (msg) => onMsg(state, events, msg));
    socket.on('error', (e) => onServerError(events, e?.code));
  }
  done();
}

/** A request with a deadline: resolves with its reply, or `{ok:false, error:{code:'timeout'}}`. */
function request(state, t, payload) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, error: { code: 'timeout', message: `no reply to ${t}` } }), REQUEST_TIMEOUT_MS);
  });
  return Promise.race([state.request(t, payload), timeout]).finally(() => clearTimeout(timer));
}

export function joinRoom(context, events, done) {
  const state = stateOf(context);
  request(state, 'join', { room: state.room }).then((reply) => {
    if (!reply.ok) return done(new Error(`join refused: ${reply.error?.code}`));
    events.emit('counter', 'parley.joins', 1);
    done();
  });
}

/** One chat message with a fresh cid; acknowledged ones must come back as a msg push. */
export function sendChat(context, events, done) {
  const state = stateOf(context);
  const cid = `c${state.sent.size + 1}-${randomUUID().slice(0, 8)}`;
  const sentAt = Date.now();
  state.sent.set(cid, sentAt);
  events.emit('counter', 'parley.sent', 1);
  request(state, 'send', { room: state.room, cid, body: `hello from ${state.user} at ${sentAt}` }).then((reply) => {
    if (!reply.ok) {
      events.emit('counter', `parley.send_${reply.error?.code ?? 'failed'}`, 1);
      return done(new Error(`send refused: ${reply.error?.code}`));
    }
    state.acked.set(cid, reply.data?.seq);
    events.emit('counter', 'parley.acked', 1);
    events.emit('histogram', 'parley.ack_ms', Date.now() - sentAt);
    done();
  });
}

/** Waits (bounded) for the msg push of every acknowledged send, then counts the missing ones. */
export function checkDelivered(context, events, done) {
  const state = stateOf(context);
  const missing = () => [...state.acked.keys()].filter((cid) => !state.received.has(cid));
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    state.onDelivered = undefined;
    const lost = missing();
    events.emit('counter', 'parley.lost_messages', lost.length);
    if (lost.length > 0) console.error(`parley: ${state.user} in ${state.room} lost ${lost.length} acknowledged message(s): ${lost.slice(0, 5).join(', ')}`);
    done();
  };
  const timer = setTimeout(finish, DELIVERY_WAIT_MS);
  state.onDelivered = () => {
    if (missing().length === 0) finish();
  };
  if (missing().length === 0) finish();
}
