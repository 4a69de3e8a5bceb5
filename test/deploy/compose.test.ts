/**
 * deploy/compose/: no container engine runs here, so each service's filesystem is rebuilt from its bind mounts in a
 * temp dir and the real tools check what the containers would read (promtool, amtool, the sidecar's config loader);
 * targets are checked against the services' names and published ports.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { composeDefaults, composeFiles, composeSettings } from '../../src/deploy/compose.js';
import { grafanaFiles } from '../../src/deploy/grafana.js';
import { defaults } from '../../src/deploy/settings.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { describeWithTools, run } from '../helpers/tools.js';
import { readCommitted, readYaml, repoRoot } from './helpers.js';

const composeDir = join(repoRoot, 'deploy/compose');
const compose = readYaml('deploy/compose/compose.yaml');
const services: Record<string, any> = compose.services;

interface Mount {
  service: string;
  source: string;
  target: string;
}

/** Bind mounts (relative sources) of every service; named volumes are left out. */
const mounts: Mount[] = Object.entries(services).flatMap(([service, s]) =>
  (s.volumes as string[])
    .map((v) => v.split(':'))
    .filter(([src]) => src!.startsWith('.'))
    .map(([src, target]) => ({ service, source: resolve(composeDir, src!), target: target! })),
);

/** The files the user creates before `up` (never committed): the Slack webhook URL. */
const userFiles = [join(composeDir, 'secrets/slack_webhook_url')];

/** rootfs copies a service's bind mounts into a temp dir laid out as the container sees them. */
function rootfs(service: string, dir: string): string {
  const root = join(dir, service);
  for (const m of mounts.filter((x) => x.service === service)) {
    const dest = join(root, m.target);
    mkdirSync(dirname(dest), { recursive: true });
    if (userFiles.includes(m.source)) writeFileSync(dest, 'https://hooks.slack.com/services/T000/B000/XXXX\n');
    else cpSync(m.source, dest, { recursive: true });
  }
  return root;
}

function publishedPorts(service: string): number[] {
  return (services[service].ports as string[]).map((p) => {
    const [host, published, container] = p.replace(/\/udp$/, '').split(':');
    expect(host, `${service} publishes ${p} on the host's loopback only`).toBe('127.0.0.1');
    expect(published).toBe(container);
    return Number(container);
  });
}

describe('deploy/compose', () => {
  it('has the sidecar, Prometheus, Alertmanager and Grafana, and every depends_on names a service', () => {
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'grafana', 'pipemeter', 'prometheus']);
    for (const s of Object.values(services)) for (const d of s.depends_on ?? []) expect(Object.keys(services)).toContain(d);
  });

  it('every bind mount source exists in the repository, except the Slack URL file the user creates', () => {
    const missing = mounts.filter((m) => !existsSync(m.source)).map((m) => m.source);
    expect(missing).toEqual(userFiles);
    // The one file in deploy/compose the generators do not write must never be committed.
    expect(readCommitted('.gitignore')).toMatch(/deploy\/compose\/secrets\//);
  });

  it('the sidecar runs with the same Node heap cap as in Kubernetes', () => {
    expect((services.pipemeter as { environment?: Record<string, string> }).environment?.NODE_OPTIONS).toMatch(/^--max-old-space-size=\d+$/);
  });

  it('every named volume is declared', () => {
    const named = Object.values(services).flatMap((s) => (s.volumes as string[]).map((v) => v.split(':')[0]!).filter((v) => !v.startsWith('.')));
    expect(named.sort()).toEqual(Object.keys(compose.volumes).sort());
  });

  it('Prometheus scrapes the sidecar and alerts Alertmanager by service name, on ports those services listen on', () => {
    const prom = readYaml('deploy/compose/prometheus/prometheus.yml');
    const sidecarJob = prom.scrape_configs.find((j: any) => j.job_name === defaults.jobs.sidecar);
    const sidecarConfig = loadConfig(readCommitted('deploy/compose/pipemeter.yaml'), 'pipemeter.yaml');
    expect(sidecarJob.static_configs[0].targets).toEqual([`pipemeter:${sidecarConfig.listeners.metrics.port}`]);
    expect(prom.alerting.alertmanagers[0].static_configs[0].targets).toEqual([`alertmanager:${composeDefaults.ports.alertmanager}`]);
    expect(publishedPorts('alertmanager')).toEqual([composeDefaults.ports.alertmanager]);
  });

  it('the sidecar\'s config is valid, listens on every interface of its container, and its ports are the published ones', () => {
    const c = loadConfig(readCommitted('deploy/compose/pipemeter.yaml'), 'pipemeter.yaml');
    expect([c.listeners.metrics.host, c.listeners.ingest.host, c.statsd.host]).toEqual(['0.0.0.0', '0.0.0.0', '0.0.0.0']);
    expect(publishedPorts('pipemeter')).toEqual([c.listeners.metrics.port, c.listeners.ingest.port, c.statsd.port]);
    expect(services.pipemeter.ports.at(-1)).toMatch(/\/udp$/);
    const cmd: string[] = services.pipemeter.command;
    const configTarget = mounts.find((m) => m.service === 'pipemeter' && m.source.endsWith('pipemeter.yaml'))!.target;
    expect(cmd.slice(-2)).toEqual(['--config', configTarget]);
    // The command runs the built CLI of the mounted checkout.
    const app = mounts.find((m) => m.service === 'pipemeter' && m.target === services.pipemeter.working_dir)!;
    expect(app.source).toBe(repoRoot);
    expect(existsSync(join(repoRoot, cmd[1]!))).toBe(true);
  });

  it('Grafana\'s datasource points at the prometheus service; the dashboards come from the shared directory Grafana\'s provider reads', () => {
    const ds = readYaml('deploy/compose/grafana/datasources/prometheus.yml');
    expect(ds.datasources[0].url).toBe(`http://prometheus:${composeDefaults.ports.prometheus}`);
    const provider = readYaml('deploy/grafana/provisioning/dashboards/pipemeter.yml').providers[0];
    expect(mounts.some((m) => m.service === 'grafana' && m.target === provider.options.path && statSync(m.source).isDirectory())).toBe(true);
  });

  it('what it mounts from the shared directories does not depend on the compose targets (so sharing them is right)', () => {
    const shared = (s: typeof defaults) => grafanaFiles(s).filter((f) => !f.path.includes('datasources'));
    expect(shared(composeSettings(defaults))).toEqual(shared(defaults));
    expect(composeFiles(defaults).map((f) => f.path)).toEqual(['compose.yaml', 'pipemeter.yaml', 'prometheus/prometheus.yml', 'grafana/datasources/prometheus.yml']);
  });
});

describeWithTools(['promtool', 'amtool'], 'deploy/compose as the containers see it', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pipemeter-compose-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('promtool accepts Prometheus\'s config with the rule files at their mounted paths', () => {
    const root = rootfs('prometheus', tmp);
    const r = run('promtool', ['check', 'config', join(root, 'etc/prometheus/prometheus.yml')]);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rule files found/);
    expect(r.stdout + r.stderr).toMatch(/rules\/alerts\.yml/);
    expect(r.code).toBe(0);
  });

  it('amtool accepts Alertmanager\'s config with the templates and the Slack URL file at their mounted paths', () => {
    const root = rootfs('alertmanager', tmp);
    const config = join(root, 'etc/alertmanager/alertmanager.yml');
    // api_url_file is absolute in the container: point it into the rebuilt filesystem for the check.
    const text = readCommitted('deploy/alertmanager/alertmanager.yml').replaceAll(defaults.alertmanager.slackApiUrlFile, join(root, defaults.alertmanager.slackApiUrlFile));
    writeFileSync(config, text);
    const r = run('amtool', ['check-config', config]);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS/);
    expect(r.stdout + r.stderr).toMatch(/[1-9]\d* templates\s+SUCCESS/);
    expect(r.code).toBe(0);
  });
});
