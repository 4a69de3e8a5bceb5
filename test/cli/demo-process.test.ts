/** The first five minutes, as processes: `pipemeter demo` runs bounded and accelerated, `pipemeter check` passes against it. */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { localStack, renderCommand } from '../../src/deploy/local-stack.js';
import { defaults } from '../../src/deploy/settings.js';
import { freePort, promtoolCheckMetrics, which } from '../helpers/tools.js';

const root = new URL('../..', import.meta.url).pathname;
const main = `${root}dist/cli/main.js`;
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** cli runs the built CLI; `ready` resolves with stdout once it matches. */
function cli(args: string[], ready?: RegExp) {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, NO_COLOR: '1' } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('exit', (code) => resolve({ code, stdout, stderr })),
  );
  const started = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${ready} in 15 s: ${stdout}${stderr}`)), 15_000);
    child.stdout.on('data', () => {
      if (ready?.test(stdout)) {
        clearTimeout(timer);
        resolve(stdout);
      }
    });
    void exited.then(() => clearTimeout(timer));
  });
  return { exited, started };
}

describe('pipemeter demo, then pipemeter check, as processes', () => {
  it('the demo serves a fleet for a bounded accelerated run, check passes against it with the catalog, and the demo ends cleanly', async () => {
    expect(existsSync(main), 'dist/ is built by npm test (pretest), npm start (prestart) and npm run build').toBe(true);
    const [metricsPort, ingestPort] = [await freePort(), await freePort()];
    const demo = cli(
      ['demo', '--speed', '1200', '--seed', '4', '--duration', '8s', '--metrics-port', String(metricsPort), '--ingest-port', String(ingestPort)],
      /Stopping after/,
    );
    const banner = await demo.started;
    expect(banner).toContain(`metrics       http://127.0.0.1:${metricsPort}/metrics`);
    expect(banner).toContain(`ingest API    http://127.0.0.1:${ingestPort}/v1/events`);
    // The commands docs/operations.md shows and the e2e test runs (test/deploy/operations-doc.test.ts compares the doc).
    const stack = localStack(defaults);
    expect(banner).toContain(`\n${renderCommand(stack.prometheus, '  ')}\n${renderCommand(stack.alertmanager, '  ')}\n`);
    // Let a few simulated hours of the fleet arrive before judging the endpoint.
    await new Promise((r) => setTimeout(r, 4000));
    // The demo's /metrics as Prometheus scrapes it in text, default collectors included: promtool finds nothing.
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toContain('nodejs_active_handles{');
    if (which('promtool') !== undefined || process.env.CI === 'true') expect(promtoolCheckMetrics(text)).toEqual({ code: 0, findings: '' });
    const check = await cli(['check', `127.0.0.1:${metricsPort}`, '--catalog', '--json']).exited;
    expect(check.stderr).toBe('');
    const report = JSON.parse(check.stdout) as { targets: { ok: boolean; reachable: boolean; findings: { severity: string; code: string }[] }[] };
    expect(report.targets[0]!.reachable).toBe(true);
    expect(report.targets[0]!.findings.filter((f) => f.severity !== 'note')).toEqual([]);
    expect(check.code).toBe(0);
    const end = await demo.exited;
    expect(end.stdout).toMatch(/stopped; sent \d+ events \(\d+ accepted, 0 refused\) and \d+ webhooks; 0 requests failed/);
    expect(end.code).toBe(0);
    // An 8 s demo, a check and promtool as processes: seconds of work that a loaded two-core machine stretches.
  }, 60_000);

  it.each([
    ['--metrics-port', 'metrics'],
    ['--ingest-port', 'ingest'],
  ])('exits 2 at once when %s names a port in use, and the hint names that flag', async (flag, what) => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '0.0.0.0', r));
    const taken = String((blocker.address() as { port: number }).port);
    try {
      const ports = { '--metrics-port': flag === '--metrics-port' ? taken : '0', '--ingest-port': flag === '--ingest-port' ? taken : '0' };
      const t0 = Date.now();
      // --duration 60s: a demo that hangs instead of exiting would outlive the test's timeout.
      const end = await cli(['demo', '--duration', '60s', ...Object.entries(ports).flat()]).exited;
      expect(end.code).toBe(2);
      expect(end.stderr).toMatch(new RegExp(`^pipemeter demo: cannot listen for ${what} on [\\d.]+:${taken} \\(EADDRINUSE\\); free the port or choose another with ${flag}\\n$`));
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  }, 30_000);
});
