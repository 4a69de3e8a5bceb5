/**
 * `pipemeter check` against the stock exporters a fleet runs, started from their Debian packages on free ports:
 * node_exporter, Prometheus (scraping them all, with two Alertmanagers and a remote write, as production runs it),
 * Alertmanager, the Pushgateway with a batch job's group, blackbox_exporter (its /metrics and a /probe) and a
 * Python prometheus_client worker with a `port` label. Well-behaved exporters must pass with exit 0; the fixtures
 * in test/cli/check.test.ts prove that per-request ids, URLs and unbounded values are still caught.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CheckReport } from '../../src/check/report.js';
import { check } from '../../src/cli/commands/check.js';
import { until } from '../e2e/helpers/poll.js';
import { type Tool, startTool } from '../e2e/helpers/process.js';
import { describeWithTools, freePort, pythonWithPrometheusClient } from '../helpers/tools.js';

const pythonExporter = fileURLToPath(new URL('../fixtures/check/python-exporter.py', import.meta.url));

async function runCheck(argv: string[]): Promise<{ code: number; report: CheckReport }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (d: Buffer) => (text += d.toString()));
  const code = await check.run([...argv, '--json'], { stdout: out, stderr: new PassThrough(), isTTY: false, env: {} });
  return { code, report: JSON.parse(text) as CheckReport };
}

describeWithTools(
  ['prometheus-node-exporter', 'prometheus-pushgateway', 'prometheus-blackbox-exporter', 'prometheus', 'prometheus-alertmanager', pythonWithPrometheusClient],
  'pipemeter check on the stock exporters of a fleet (Debian packages, real processes)',
  () => {
    const tools: Tool[] = [];
    let dir = '';
    const urls: Record<string, string> = {};
    const detail = () => tools.map((t) => `--- ${t.name}\n${t.log().slice(-1500)}`).join('\n');

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'pipemeter-exporters-'));
      const [node, push, blackbox, prom, am, python, deadAm, deadWrite] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
      const at = (port: number | undefined) => `127.0.0.1:${port}`;
      writeFileSync(join(dir, 'blackbox.yml'), 'modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n');
      writeFileSync(join(dir, 'alertmanager.yml'), 'route:\n  receiver: none\nreceivers:\n  - name: none\n');
      // Production-shaped: every exporter scraped, an Alertmanager pair (one of them down), a remote write endpoint.
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global:\n  scrape_interval: 1s',
          `alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ["${at(am)}", "${at(deadAm)}"]`,
          `remote_write:\n  - url: http://${at(deadWrite)}/api/v1/write`,
          'scrape_configs:',
          ...Object.entries({ prometheus: prom, alertmanager: am, node, pushgateway: push, blackbox, python }).map(
            ([job, port]) => `  - job_name: ${job}\n    static_configs:\n      - targets: ["${at(port)}"]`,
          ),
          `  - job_name: blackbox-http\n    metrics_path: /probe\n    params: { module: [http_2xx] }\n    static_configs:\n      - targets: ["http://${at(push)}/-/healthy"]\n` +
            `    relabel_configs:\n      - { source_labels: [__address__], target_label: __param_target }\n      - { target_label: __address__, replacement: "${at(blackbox)}" }`,
          '',
        ].join('\n'),
      );
      tools.push(
        startTool('node_exporter', 'prometheus-node-exporter', [`--web.listen-address=${at(node)}`]),
        startTool('pushgateway', 'prometheus-pushgateway', [`--web.listen-address=${at(push)}`, '--persistence.file=']),
        startTool('blackbox_exporter', 'prometheus-blackbox-exporter', [`--web.listen-address=${at(blackbox)}`, `--config.file=${join(dir, 'blackbox.yml')}`]),
        startTool('alertmanager', 'prometheus-alertmanager', [
          `--web.listen-address=${at(am)}`,
          `--config.file=${join(dir, 'alertmanager.yml')}`,
          `--storage.path=${join(dir, 'am')}`,
          '--cluster.listen-address=',
        ]),
        startTool('prometheus', 'prometheus', [`--web.listen-address=${at(prom)}`, `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`]),
        startTool('python', pythonWithPrometheusClient.python, [pythonExporter, String(python)]),
      );
      Object.assign(urls, {
        node_exporter: `http://${at(node)}/metrics`,
        pushgateway: `http://${at(push)}/metrics`,
        blackbox_exporter: `http://${at(blackbox)}/metrics`,
        'blackbox_exporter /probe': `http://${at(blackbox)}/probe?module=http_2xx&target=http://${at(push)}/-/healthy`,
        alertmanager: `http://${at(am)}/metrics`,
        prometheus: `http://${at(prom)}/metrics`,
        python: `http://${at(python)}/metrics`,
      });
      // A nightly backup job pushes its result, as batch jobs do.
      await until(
        'the pushgateway to take a pushed group',
        async () => {
          const body = `# TYPE backup_last_success_timestamp_seconds gauge\nbackup_last_success_timestamp_seconds ${Math.floor(Date.now() / 1000)}\n# TYPE backup_duration_seconds gauge\nbackup_duration_seconds 42\n`;
          const res = await fetch(`http://${at(push)}/metrics/job/backup/instance/db-1`, { method: 'PUT', body });
          return res.ok ? true : undefined;
        },
        { ms: 20_000, detail },
      );
      // Prometheus has scraped every job and tried to notify and write: its own series for all of that exist.
      await until(
        'Prometheus to scrape every job up',
        async () => {
          const res = await fetch(`http://${at(prom)}/api/v1/query?query=${encodeURIComponent('count(up == 1)')}`);
          const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
          return Number(body.data.result[0]?.value[1] ?? 0) === 7 ? true : undefined;
        },
        { ms: 30_000, detail },
      );
      await until('every exporter to answer', async () => ((await Promise.all(Object.values(urls).map((u) => fetch(u)))).every((r) => r.ok) ? true : undefined), {
        ms: 10_000,
        detail,
      });
    }, 60_000);

    afterAll(async () => {
      await Promise.all(tools.map((t) => t.stop()));
      if (dir !== '') rmSync(dir, { recursive: true, force: true });
    }, 20_000);

    it.each(['node_exporter', 'prometheus', 'alertmanager', 'pushgateway', 'blackbox_exporter', 'blackbox_exporter /probe', 'python'])(
      'passes %s with exit 0: no error or warning finding',
      async (name) => {
        const { code, report } = await runCheck([urls[name]!]);
        const t = report.targets[0]!;
        expect(t.reachable).toBe(true);
        expect(t.series).toBeGreaterThan(0);
        expect(t.findings.filter((f) => f.severity !== 'note')).toEqual([]);
        expect(code).toBe(0);
      },
      20_000,
    );

    it('passes the whole fleet in one run with exit 0', async () => {
      const { code, report } = await runCheck(Object.values(urls));
      expect(report.targets.map((t) => [t.url, t.ok])).toEqual(Object.values(urls).map((u) => [expect.stringContaining(new URL(u).host), true]));
      expect(code).toBe(0);
    }, 30_000);
  },
);
