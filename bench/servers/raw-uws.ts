// The ceiling: uWebSockets.js `app.publish` with nothing else, speaking just enough of
// Parley's /ws frames (hello, join, leave, send, reply, msg) that the same load generators drive
// it: a message a client sends to a room is published to that room's topic, with a per-room seq.
// GET /mem answers process.memoryUsage() for the idle-connection figures.
import uWS from 'uWebSockets.js';

interface Frame {
  t?: string;
  rid?: number;
  room?: string;
  cid?: string;
  body?: string;
}

const port = Number(process.env['PORT'] ?? '0');
const decoder = new TextDecoder();
const seqs = new Map<string, number>();

const app = uWS.App();
app.ws<Record<string, never>>('/ws', {
  maxPayloadLength: 64 * 1024,
  // Large enough that a slow subscriber is not silently skipped by publish during a run.
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  open: (ws) => {
    ws.send('{"t":"hello"}', false);
  },
  message: (ws, message) => {
    const f = JSON.parse(decoder.decode(message)) as Frame;
    if (f.t === 'join' && f.room) {
      ws.subscribe(f.room);
      const head = seqs.get(f.room) ?? 0;
      ws.send(`{"t":"reply","rid":${f.rid},"ok":true,"data":{"room":${JSON.stringify(f.room)},"epoch":"raw","head":${head},"messages":[],"recovered":false,"more":false}}`, false);
    } else if (f.t === 'leave' && f.room) {
      ws.unsubscribe(f.room);
      ws.send(`{"t":"reply","rid":${f.rid},"ok":true,"data":{"room":${JSON.stringify(f.room)}}}`, false);
    } else if (f.t === 'send' && f.room) {
      const seq = (seqs.get(f.room) ?? 0) + 1;
      seqs.set(f.room, seq);
      const ts = Date.now();
      // The same shape and size as Parley's msg push, serialized once for every subscriber.
      app.publish(f.room, `{"t":"msg","room":${JSON.stringify(f.room)},"seq":${seq},"cid":${JSON.stringify(f.cid)},"from":"pub","body":${JSON.stringify(f.body)},"ts":${ts}}`, false);
      ws.send(`{"t":"reply","rid":${f.rid},"ok":true,"data":{"seq":${seq},"ts":${ts}}}`, false);
    } else {
      ws.send(`{"t":"reply","rid":${f.rid},"ok":true,"data":{}}`, false);
    }
  },
});
app.get('/mem', (res) => {
  res.writeHeader('content-type', 'application/json').end(JSON.stringify(process.memoryUsage()));
});
app.listen('127.0.0.1', port, (socket) => {
  if (!socket) {
    process.stderr.write(`raw-uws: cannot listen on ${port}\n`);
    process.exit(1);
  }
  process.stdout.write(`listening ${uWS.us_socket_local_port(socket)}\n`);
});
