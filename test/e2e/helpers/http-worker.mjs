// A Node service with an HTTP API, as users instrument one: an express 5 app behind meter.http(), its own /metrics,
// and a client in the same process asking three routes ten times a second (200s, 500s and 404s).
// Usage: node http-worker.mjs PORT (the package must be built: dist/).
import express from 'express';
import { createMeter } from '../../../dist/index.js';

const port = Number(process.argv[2]);
const meter = createMeter({ service: 'e2e-api' });
const app = express();
app.use(meter.http());
app.use(meter.router());
app.get('/items/:id', (req, res) => {
  res.status(req.params.id === 'broken' ? 500 : 200).send('item');
});
const server = app.listen(port, '127.0.0.1', () => process.stdout.write(`listening on ${port}\n`));
const paths = ['/items/1', '/items/2', '/items/broken', '/no/such/page'];
let n = 0;
setInterval(() => void fetch(`http://127.0.0.1:${port}${paths[n++ % paths.length]}`).then((r) => r.text(), () => undefined), 100);
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
