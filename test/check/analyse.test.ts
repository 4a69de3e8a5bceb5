/** analyse's label judgement, case by case: what stock exporters write passes, what grows per request does not. */
import { describe, expect, it } from 'vitest';
import { analyse } from '../../src/check/analyse.js';
import { checkDefaults } from '../../src/check/settings.js';
import { parseExposition } from '../../src/exposition/parse.js';

/** labelCodes analyses a text 0.0.4 body and lists its label findings as `code family{label}`. */
function labelCodes(body: string, format: 'text' | 'openmetrics' = 'text'): string[] {
  const a = analyse(parseExposition(body, format), { ...checkDefaults, urls: [] }, Date.now());
  expect(a.findings.filter((f) => f.severity === 'error')).toEqual([]);
  return a.findings.filter((f) => f.label !== undefined).map((f) => `${f.code} ${f.family}{${f.label}}`);
}

const gauge = (name: string, ...series: string[]) => `# HELP ${name} x\n# TYPE ${name} gauge\n${series.map((s) => `${name}${s}`).join('\n')}\n`;

describe('label findings', () => {
  it.each([
    [
      "node_exporter's node_os_info: an info metric of OS identifiers",
      gauge('node_os_info', '{build_id="",id="debian",image_id="",variant_id="",version_id="12"} 1'),
      [],
    ],
    ["node_exporter's node_os_version: one word under an id-like name", gauge('node_os_version', '{id="debian",name="Debian GNU/Linux"} 12'), []],
    ['a port label holds ports, not numeric ids', gauge('db_pool_connections', '{backend="redis",port="16379"} 4', '{backend="pg",port="15432"} 9'), []],
    ['a *_port label too', gauge('upstream_up', '{upstream_port="16379"} 1', '{upstream_port="15432"} 1'), []],
    ["node_exporter's mount points of logged-in users", gauge('node_filesystem_avail_bytes', '{mountpoint="/run/user/120"} 1', '{mountpoint="/run/user/1000"} 2'), []],
    [
      "Prometheus's notifier: one Alertmanager URL per host",
      gauge('prometheus_notifications_sent', '{alertmanager="http://am-1:9093/api/v2/alerts"} 1', '{alertmanager="http://am-2:9093/api/v2/alerts"} 1'),
      [],
    ],
    ["Prometheus's remote write: one endpoint in a url label", gauge('prometheus_remote_storage_shards', '{remote_name="a1b2c3",url="http://mimir:9009/api/v1/push"} 1'), []],
    ['a build info with its commit', gauge('worker_info', '{commit="9f2c1e7b3a4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f",version="2.4.1"} 1'), []],
  ])('passes %s', (_what, body, want) => expect(labelCodes(body)).toEqual(want));

  it('passes an OpenMetrics info family (prometheus_client Info)', () => {
    const body = '# TYPE worker info\n# HELP worker Worker build.\nworker_info{commit="9f2c1e7b3a4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f",version="2.4.1"} 1\n# EOF\n';
    expect(labelCodes(body, 'openmetrics')).toEqual([]);
  });

  it.each([
    ['the same numbers under another label name are ids', gauge('orders_open', '{order="16379"} 4', '{order="15432"} 9'), ['unbounded-label-values orders_open{order}']],
    ['a port label with values no port has', gauge('conn', '{port="99999"} 4', '{port="123456"} 9'), ['unbounded-label-values conn{port}']],
    ['an id-like name with two values', gauge('jobs_running', '{job_id="a"} 1', '{job_id="b"} 1'), ['id-like-label jobs_running{job_id}']],
    ['an id-like name with one UUID', gauge('jobs_running', '{crawl_id="3f2b6c1e-8a4d-4c7e-9b1a-2d5e6f7a8b9c"} 1'), ['id-like-label jobs_running{crawl_id}']],
    [
      'a url label whose paths differ (per-request URLs)',
      gauge('fetches', '{url="https://shop.example/items/1"} 1', '{url="https://shop.example/items/2"} 1'),
      ['id-like-label fetches{url}'],
    ],
    [
      'URLs whose paths differ under a plain name',
      gauge('fetches', '{target="https://shop.example/items/1"} 1', '{target="https://shop.example/items/2"} 1'),
      ['unbounded-label-values fetches{target}'],
    ],
    ['request paths with ids, not mount points', gauge('hits', '{route="/api/items/12345"} 1', '{route="/api/items/67890"} 1'), ['unbounded-label-values hits{route}']],
    [
      'an *_info gauge whose value is not 1 is no info metric',
      gauge('cache_info', '{key="d41d8cd98f00b204e9800998ecf8427e"} 3', '{key="9e107d9d372bb6826bd81d3542a419d6"} 4'),
      ['unbounded-label-values cache_info{key}'],
    ],
  ])('flags %s', (_what, body, want) => expect(labelCodes(body)).toEqual(want));
});
