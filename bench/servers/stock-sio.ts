// The baseline Parley's Socket.IO endpoint is compared with: stock Socket.IO 4 as most apps
// run it, `new Server(httpServer)` on node:http with its default `ws` engine, doing what a chat
// server minimally does (join a room, broadcast to it, ack). GET /mem answers
// process.memoryUsage() for the idle-connection figures.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

type Ack = (reply: { ok: boolean; data?: unknown }) => void;

const port = Number(process.env['PORT'] ?? '0');
let seq = 0;

const httpServer = createServer((req, res) => {
  if (req.url === '/mem') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(process.memoryUsage()));
  }
});
const io = new Server(httpServer);

io.on('connection', (socket) => {
  socket.on('join', (payload: { room: string }, ack: Ack) => {
    void socket.join(payload.room);
    ack({ ok: true, data: { room: payload.room } });
  });
  socket.on('send', (payload: { room: string; cid: string; body: string }, ack: Ack) => {
    seq++;
    const ts = Date.now();
    io.to(payload.room).emit('msg', { room: payload.room, seq, cid: payload.cid, from: 'pub', body: payload.body, ts });
    ack({ ok: true, data: { seq, ts } });
  });
});

httpServer.listen(port, '127.0.0.1', () => {
  const addr = httpServer.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : port}\n`);
});
