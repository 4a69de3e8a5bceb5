/** alertmanager.yml and the Slack templates, judged by amtool: config check, severity routes, rendered messages. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardUids } from '../../src/deploy/grafana-ids.js';
import { defaults } from '../../src/deploy/settings.js';
import { describeWithTools } from '../helpers/tools.js';
import { readCommitted, readYaml, runAsync, tempCopy } from './helpers.js';

describe('alertmanager.yml', () => {
  const config = readYaml('deploy/alertmanager/alertmanager.yml');

  it('never holds a webhook URL: Slack reads it from a file', () => {
    const text = readCommitted('deploy/alertmanager/alertmanager.yml');
    expect(text).not.toMatch(/hooks\.slack\.com|api_url:/);
    for (const r of config.receivers) for (const s of r.slack_configs) expect(s.api_url_file).toBe(defaults.alertmanager.slackApiUrlFile);
  });

  it.each([
    ['slack-critical', '1h'],
    ['slack-warning', '4h'],
  ])('%s repeats every %s and sends resolved', (name, repeat) => {
    const route = config.route.receiver === name ? config.route : config.route.routes.find((r: any) => r.receiver === name);
    expect(route.repeat_interval).toBe(repeat);
    const receiver = config.receivers.find((r: any) => r.name === name);
    expect(receiver.slack_configs[0].send_resolved).toBe(true);
  });

  it('groups by alertname, scraper, pipeline with 30s wait and 5m interval', () => {
    expect(config.route).toMatchObject({ group_by: ['alertname', 'scraper', 'pipeline'], group_wait: '30s', group_interval: '5m' });
  });
});

describeWithTools(['amtool'], 'deploy/alertmanager with amtool', () => {
  let copy: ReturnType<typeof tempCopy>;
  let amDir: string;
  beforeAll(() => {
    copy = tempCopy();
    amDir = join(copy.dir, 'deploy/alertmanager');
  });
  afterAll(() => copy.cleanup());

  it('amtool check-config accepts the config and finds the templates', async () => {
    const r = await runAsync('amtool', ['check-config', 'alertmanager.yml'], amDir);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('2 receivers');
    expect(r.out).toContain('1 templates');
  });

  it('amtool check-config rejects a broken config (the check can fail)', async () => {
    writeFileSync(join(amDir, 'broken.yml'), 'route:\n  receiver: nobody\nreceivers: []\n');
    const r = await runAsync('amtool', ['check-config', 'broken.yml'], amDir);
    expect(r.code).not.toBe(0);
  });

  it.each([
    [['severity=critical', 'alertname=ScraperNoRecentSuccess', 'scraper=spotify'], 'slack-critical'],
    [['severity=critical', 'alertname=TargetDown', 'job=pipemeter'], 'slack-critical'],
    [['severity=warning', 'alertname=PipelineQueueBacklog', 'pipeline=video'], 'slack-warning'],
    [['severity=info', 'alertname=Something'], 'slack-warning'],
    [['alertname=NoSeverity'], 'slack-warning'],
  ])('amtool config routes test %j → %s', async (labels, receiver) => {
    const r = await runAsync('amtool', ['config', 'routes', 'test', '--config.file=alertmanager.yml', `--verify.receivers=${receiver}`, ...labels], amDir);
    expect(r.code, r.out).toBe(0);
    expect(r.out.split('\n')[0]?.trim()).toBe(receiver);
  });

  it('amtool template render: title, summary, description, runbook and Grafana links', async () => {
    const data = {
      receiver: 'slack-critical',
      status: 'firing',
      alerts: [
        {
          status: 'firing',
          labels: { alertname: 'ScraperNoRecentSuccess', scraper: 'spotify', severity: 'critical' },
          annotations: {
            summary: 'A scraper has not succeeded recently.',
            description: 'Scraper spotify has not finished a successful run in the last 2h.',
            runbook_url: 'https://example.org/runbooks.md#scrapernorecentsuccess',
          },
          startsAt: '2026-01-01T00:00:00Z',
          endsAt: '0001-01-01T00:00:00Z',
          generatorURL: 'http://prometheus:9090/graph',
          fingerprint: '1',
        },
        {
          status: 'resolved',
          labels: { alertname: 'PipelineJobsStuck', pipeline: 'video transcode', severity: 'warning' },
          annotations: { summary: 'A pipeline has jobs in progress and finishes none.', description: 'Pipeline video transcode has 3 jobs.' },
          startsAt: '2026-01-01T00:00:00Z',
          endsAt: '2026-01-01T01:00:00Z',
          generatorURL: 'http://prometheus:9090/graph',
          fingerprint: '2',
        },
      ],
      groupLabels: { alertname: 'ScraperNoRecentSuccess', scraper: 'spotify' },
      commonLabels: { alertname: 'ScraperNoRecentSuccess', scraper: 'spotify', severity: 'critical' },
      commonAnnotations: {},
      externalURL: 'http://alertmanager:9093',
    };
    mkdirSync(join(amDir, 'data'), { recursive: true });
    writeFileSync(join(amDir, 'data/alerts.json'), JSON.stringify(data));
    const r = await runAsync(
      'amtool',
      [
        'template',
        'render',
        '--template.glob=templates/*.tmpl',
        '--template.text={{ template "pipemeter.slack.title" . }}\n{{ template "pipemeter.slack.text" . }}',
        '--template.data=data/alerts.json',
      ],
      amDir,
    );
    expect(r.code, r.out).toBe(0);
    const g = defaults.grafana.url;
    expect(r.out).toBe(
      [
        '[FIRING:1] ScraperNoRecentSuccess scraper=spotify',
        '*A scraper has not succeeded recently.* (critical)',
        'Scraper spotify has not finished a successful run in the last 2h.',
        'Runbook: https://example.org/runbooks.md#scrapernorecentsuccess',
        `Grafana: ${g}/d/${dashboardUids.scraper}?var-scraper=spotify`,
        '*A pipeline has jobs in progress and finishes none.* (warning, resolved)',
        'Pipeline video transcode has 3 jobs.',
        `Grafana: ${g}/d/${dashboardUids.pipeline}?var-pipeline=video+transcode`,
        '',
      ].join('\n'),
    );
  });
});
