// The ceiling: uWebSockets.js `app.publish` with nothing else, speaking just enough of
// Parley's /ws frames (hello, join, send, reply, msg) that the same load generator drives it.
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
let seq = 0;

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
      ws.send(`{"t":"reply","rid":${f.rid},"ok":true,"data":{"room":${JSON.stringify(f.room)}}}`, false);
    } else if (f.t === 'send' && f.room) {
      seq++;
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
