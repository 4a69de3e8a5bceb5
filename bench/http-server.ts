/**
 * The express 5 app of the HTTP benchmark, in its own process: `node http-server.js <none|pipemeter|bundle>`. One app,
 * three ways: no metrics, pipemeter's meter.http(), or express-prom-bundle with the same labels (method, path, status)
 * and the same buckets. Prints `listening <port>` once it accepts connections.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import promBundle from 'express-prom-bundle';
import { Registry } from 'prom-client';
import { httpServerSeconds } from '../src/catalog/index.js';
import { createMeter } from '../src/index.js';

export type Mode = 'none' | 'pipemeter' | 'bundle';

const mode = process.argv[2] as Mode;
const app = express();
// The benchmark reads this process's CPU time around a measured run; mounted before any metrics, so never recorded.
app.get('/__bench/cpu', (_req, res) => {
  const { user, system } = process.cpuUsage();
  res.json({ micros: user + system });
});
if (mode === 'pipemeter') {
  const meter = createMeter({ service: 'bench-http' });
  app.use(meter.http());
  app.use(meter.router());
} else if (mode === 'bundle') {
  // Its own registry, method and path labels as meter.http() records them, OpenTelemetry's buckets: the same work.
  app.use(promBundle({ includeMethod: true, includePath: true, buckets: [...httpServerSeconds], promRegistry: new Registry(), promClient: { collectDefaultMetrics: {} } }));
} else if (mode !== 'none') {
  throw new Error(`mode must be none, pipemeter or bundle, not ${String(mode)}`);
}

app.use(express.json());
app.get('/items/:id', (req, res) => {
  res.json({ id: req.params.id, name: 'item', tags: ['a', 'b'] });
});
app.post('/items', (req, res) => {
  res.status(201).json({ created: true, body: req.body as unknown });
});
const users = express.Router();
users.get('/:user/orders/:order', (req, res) => {
  res.json({ user: req.params.user, order: req.params.order });
});
app.use('/users', users);

const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
