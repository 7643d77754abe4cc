// A before-publish hook (docs/hooks.md) that accepts every message at once: what the `hook`
// scenario puts in front of Parley to measure what the call itself costs a send. Keep-alive
// connections, as a production hook would serve them. GET /mem answers process.memoryUsage().
import { createServer } from 'node:http';

const port = Number(process.env['PORT'] ?? '0');
const ACCEPT = JSON.stringify({ action: 'accept' });

const server = createServer((req, res) => {
  if (req.url === '/mem') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(process.memoryUsage()));
    return;
  }
  // The message is read (as a real hook would) and the verdict written once it has arrived.
  req.resume();
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': ACCEPT.length }).end(ACCEPT));
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : port}\n`);
});
