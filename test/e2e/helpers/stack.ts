/**
 * The operations stack the e2e suite runs: deploy/ generated with test settings into a temp dir, then the
 * real prometheus and prometheus-alertmanager binaries on loopback, pointed at those files.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { type GeneratedFile, generateAll } from '../../../src/deploy/index.js';
import { localStack } from '../../../src/deploy/local-stack.js';
import { type Settings, defaults } from '../../../src/deploy/settings.js';
import { until } from './poll.js';
import { type Tool, startTool } from './process.js';

export interface StackPorts {
  /** host:port of every sidecar Prometheus scrapes. */
  sidecars: string[];
  prometheus: number;
  alertmanager: number;
}

/**
 * e2eSettings shortens what a 90-second run needs shortened, through the Settings object only: 1 s scrape
 * and evaluation, loopback targets, quick Alertmanager grouping, and the `for`/window of the two alerts the
 * demo scenarios make fire. Everything else keeps the shipped defaults.
 */
export function e2eSettings(ports: StackPorts, slackApiUrlFile: string): Settings {
  return {
    ...defaults,
    targets: { sidecar: ports.sidecars, nodeExporter: [], alertmanager: [`127.0.0.1:${ports.alertmanager}`] },
    // No worker processes in this run: the file_sd file lists none, and only the sidecar job must exist.
    workerTargets: [],
    absentJobs: [defaults.jobs.sidecar],
    scrapeInterval: '1s',
    evaluationInterval: '1s',
    probeFailing: { ...defaults.probeFailing, for: '3s' },
    scraper: {
      ...defaults.scraper,
      schemaErrors: { ...defaults.scraper.schemaErrors, window: '20s', for: '3s' },
    },
    alertmanager: {
      ...defaults.alertmanager,
      url: `http://127.0.0.1:${ports.alertmanager}`,
      slackApiUrlFile,
      groupWait: '1s',
      groupInterval: '2s',
      repeat: { critical: '10m', warning: '10m' },
    },
  };
}

/** writeDeploy writes every generated file under `root` (deploy/... and docs/...) and returns them. */
export function writeDeploy(root: string, s: Settings): GeneratedFile[] {
  const files = generateAll(s);
  for (const f of files) {
    const p = join(root, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.content);
  }
  return files;
}

export function fileContent(files: readonly GeneratedFile[], path: string): string {
  const f = files.find((x) => x.path === path);
  if (f === undefined) throw new Error(`the generators wrote no ${path}; they wrote ${files.map((x) => x.path).join(', ')}`);
  return f.content;
}

/** recordingRules reads the record names and expressions from the generated rule files. */
export function recordingRules(files: readonly GeneratedFile[]): { record: string; expr: string }[] {
  return files
    .filter((f) => f.path.startsWith('deploy/prometheus/rules/'))
    .flatMap((f) => (parse(f.content) as { groups: { rules: { record?: string; expr: string }[] }[] }).groups)
    .flatMap((g) => g.rules)
    .filter((r): r is { record: string; expr: string } => typeof r.record === 'string');
}

export interface PanelQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

/** dashboardQueries collects every `expr` of every panel (rows' nested panels too) of the generated dashboards. */
export function dashboardQueries(files: readonly GeneratedFile[]): PanelQuery[] {
  const out: PanelQuery[] = [];
  type Panel = { title?: string; targets?: { expr?: string }[]; panels?: Panel[] };
  const walk = (dashboard: string, panels: readonly Panel[] = []) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string' && t.expr !== '') out.push({ dashboard, panel: p.title ?? '', expr: t.expr });
      walk(dashboard, p.panels);
    }
  };
  for (const f of files.filter((x) => x.path.startsWith('deploy/grafana/dashboards/') && x.path.endsWith('.json'))) {
    const d = JSON.parse(f.content) as { uid?: string; title?: string; panels?: Panel[] };
    walk(d.uid ?? d.title ?? f.path, d.panels);
  }
  return out;
}

/**
 * substituteGrafana replaces the dashboards' variables as Grafana would for this run: every job, scraper
 * and pipeline, and a rate interval that holds data at a 1 s scrape interval.
 */
export function substituteGrafana(expr: string, rateInterval = '1m'): string {
  return expr
    .replaceAll('$__rate_interval', rateInterval)
    .replaceAll('${__rate_interval}', rateInterval)
    .replaceAll('$__interval', '15s')
    .replaceAll('$__range', '1h')
    .replace(/\$\{?(job|scraper|pipeline)\}?/g, '.*');
}

export interface Stack {
  prometheus: Tool;
  alertmanager: Tool;
  promUrl: string;
  amUrl: string;
  /** Resolves when both answer /-/ready; rejects with their logs when one exits or the deadline passes. */
  ready: Promise<void>;
}

/**
 * startStack spawns Prometheus and Alertmanager on the generated files, with the commands `pipemeter demo` prints and
 * docs/operations.md shows (localStack), on this run's ports and directories, logging warnings only. It returns at
 * once, so the caller holds both processes (and stops them) even when `ready` fails.
 */
export function startStack(root: string, ports: StackPorts, s: Pick<Settings, 'alertmanager'>): Stack {
  const amUrl = `http://127.0.0.1:${ports.alertmanager}`;
  const promUrl = `http://127.0.0.1:${ports.prometheus}`;
  const stack = localStack(s, {
    root,
    prometheusData: join(root, 'data/prometheus'),
    alertmanagerData: join(root, 'data/alertmanager'),
    prometheusListen: `127.0.0.1:${ports.prometheus}`,
    alertmanagerListen: `127.0.0.1:${ports.alertmanager}`,
  });
  const alertmanager = startTool('alertmanager', stack.alertmanager.bin, [...stack.alertmanager.args, '--log.level=warn']);
  const prometheus = startTool('prometheus', stack.prometheus.bin, [...stack.prometheus.args, '--log.level=warn']);
  const readyAt = (url: string, tool: Tool) =>
    until(
      `${tool.name} to be ready at ${url}`,
      async () => {
        if (tool.child.exitCode !== null) throw new Error(`${tool.name} exited with ${tool.child.exitCode}`);
        return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined;
      },
      { ms: 30_000, detail: tool.log },
    );
  const ready = Promise.all([readyAt(amUrl, alertmanager), readyAt(promUrl, prometheus)]).then(() => undefined);
  return { prometheus, alertmanager, promUrl, amUrl, ready };
}
