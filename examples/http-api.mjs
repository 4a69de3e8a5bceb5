// An HTTP API instrumented with pipemeter's meter.http(): request rate, errors, duration and requests in flight.
// Run after `npm install`: node examples/http-api.mjs          (the API and its /metrics on http://localhost:8080)
//                          node examples/http-api.mjs --once   (answers a few requests, prints /metrics, exits)
import express from 'express';
import { createMeter } from 'pipemeter';

const meter = createMeter({ service: 'example-api' });
const app = express();
app.use(meter.http({ exclude: ['/metrics', '/healthz'] })); // first, before the routes
app.use(meter.router()); // GET /metrics

app.get('/healthz', (_req, res) => res.send('ok'));
app.get('/items/:id', (req, res) => res.json({ id: req.params.id }));
const users = express.Router();
users.get('/:user/orders/:order', (req, res) => res.json(req.params));
app.use('/users', users); // recorded as route="/users/:user/orders/:order"
app.post('/items', (_req, res) => res.status(503).json({ error: 'the database is down' })); // a server error: 5xx

const port = Number(process.env.PORT ?? 8080);
const server = app.listen(process.argv.includes('--once') ? 0 : port, async () => {
  const base = `http://localhost:${server.address().port}`;
  if (!process.argv.includes('--once')) return console.log(`API and metrics on ${base}/metrics`);
  for (const [method, path] of [['GET', '/items/1'], ['GET', '/items/2'], ['GET', '/users/7/orders/9'], ['POST', '/items'], ['GET', '/nope'], ['PROPFIND', '/items/1'], ['GET', '/healthz']]) {
    await (await fetch(`${base}${path}`, { method })).text();
  }
  process.stdout.write(await (await fetch(`${base}/metrics`)).text());
  server.close();
});
