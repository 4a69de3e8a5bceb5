/** Inhibition, judged by a real Alertmanager on loopback: a critical alert mutes warnings for the same scraper or pipeline only. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaults } from '../../src/deploy/settings.js';
import { describeWithTools } from '../helpers/tools.js';
import { tempCopy } from './helpers.js';
import { freePort } from '../helpers/tools.js';


async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${ms}ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
}

interface AmAlert {
  labels: Record<string, string>;
  status: { inhibitedBy: string[] };
}

describeWithTools(['prometheus-alertmanager'], 'inhibit rules in a running Alertmanager', () => {
  let copy: ReturnType<typeof tempCopy>;
  let am: ChildProcess | undefined;
  let base = '';
  let log = '';

  beforeAll(async () => {
    copy = tempCopy();
    const dir = join(copy.dir, 'deploy/alertmanager');
    // A dummy webhook on a closed loopback port: notifications fail locally, nothing leaves the machine.
    const urlFile = join(copy.dir, 'slack_webhook_url');
    writeFileSync(urlFile, 'http://127.0.0.1:9/slack\n');
    const configFile = join(dir, 'alertmanager.yml');
    writeFileSync(configFile, readFileSync(configFile, 'utf8').replaceAll(defaults.alertmanager.slackApiUrlFile, urlFile));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    am = spawn(
      'prometheus-alertmanager',
      [`--config.file=${configFile}`, `--storage.path=${join(copy.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    am.stderr?.on('data', (b: Buffer) => (log += b.toString()));
    await until('Alertmanager to be ready', async () => ((await fetch(`${base}/-/ready`)).ok ? true : undefined));
  });

  afterAll(() => {
    am?.kill('SIGKILL');
    copy?.cleanup();
  });

  it('mutes warnings of the scraper or pipeline a critical alert is about, and nothing else', async () => {
    const alerts = [
      { alertname: 'ScraperNoRecentSuccess', scraper: 'spotify', severity: 'critical' },
      { alertname: 'ScraperHighSchemaErrorRate', scraper: 'spotify', severity: 'warning' },
      { alertname: 'ScraperHighSchemaErrorRate', scraper: 'beatport', severity: 'warning' },
      { alertname: 'PipelineErrorBudgetFastBurn', pipeline: 'crawl', severity: 'critical' },
      { alertname: 'PipelineFailureRateHigh', pipeline: 'crawl', stage: 'embedding', severity: 'warning' },
      { alertname: 'TargetDown', job: 'pipemeter', instance: 'pipemeter:9464', severity: 'critical' },
      { alertname: 'PipelineQueueBacklog', pipeline: 'video', signal: 'depth', severity: 'warning' },
    ];
    const res = await fetch(`${base}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts.map((labels) => ({ labels, annotations: { summary: 's' } }))),
    });
    expect(res.status, log).toBe(200);

    const got = await until('all alerts and their inhibition', async () => {
      const list = (await (await fetch(`${base}/api/v2/alerts`)).json()) as AmAlert[];
      // The inhibitor learns source alerts asynchronously: wait until both critical sources have taken effect.
      return list.length === alerts.length && list.filter((a) => a.status.inhibitedBy.length > 0).length >= 2 ? list : undefined;
    });
    const muted = got
      .filter((a) => a.status.inhibitedBy.length > 0)
      .map((a) => `${a.labels.alertname} ${a.labels.scraper ?? a.labels.pipeline}`)
      .sort();
    expect(muted).toEqual(['PipelineFailureRateHigh crawl', 'ScraperHighSchemaErrorRate spotify']);
  });
});
