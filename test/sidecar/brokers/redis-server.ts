/** A real redis-server for the broker tests: on a free loopback port, no persistence, always killed. */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from '../../helpers/tools.js';

export { freePort };


function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface RedisServer {
  port: number;
  url: string;
  /** kill stops the server (SIGKILL: an outage, not a clean shutdown) and waits for it to exit. */
  kill(): Promise<void>;
  /** start starts it again on the same port (empty: nothing was persisted). */
  start(): Promise<void>;
}

/** startRedis runs redis-server on a free port, requiring `password` when given; kill() it in afterAll. */
export async function startRedis(password?: string): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(password === undefined ? [] : ['--requirepass', password])];
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async kill() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await exited;
    },
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        if (await accepts(port)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      await server.kill();
      throw new Error(`redis-server did not accept connections on 127.0.0.1:${port} within 5s`);
    },
  };
  await server.start();
  return server;
}
