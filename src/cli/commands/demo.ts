/** `pipemeter demo`: a simulated fleet feeding a sidecar, so every panel and alert has data on the first run. */
import { readFileSync } from 'node:fs';
import { localStack, renderCommand } from '../../deploy/local-stack.js';
import { defaults } from '../../deploy/settings.js';
import { parseDuration } from '../../shared/units.js';
import { type Command, UsageError, missingValue, unknownOption } from '../command.js';
import { type Scenario, scenarios } from '../../demo/fleet.js';
import { type DemoOptions, demoDefaults, startDemo } from '../../demo/run.js';

interface DemoArgs extends Omit<DemoOptions, 'log'> {
  durationMs?: number;
}

function readSecret(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read the ${what} file "${file}" (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** An example value of each option, for the error when it is missing. */
const examples: Record<string, string> = {
  '--speed': '600',
  '--seed': '7',
  '--duration': '10m',
  '--scenario': 'ProbeFailing',
  '--target': 'http://127.0.0.1:9465',
  '--token-file': './ingest-token',
  '--firecrawl-secret-file': './firecrawl-secret',
  '--metrics-port': '9464',
  '--ingest-port': '9465',
};

function parseArgs(argv: readonly string[]): DemoArgs {
  const out: DemoArgs = { ...demoDefaults };
  const value = (i: number, flag: string) => {
    const v = argv[i];
    if (v === undefined || v.startsWith('--')) throw missingValue(flag, examples[flag] ?? 'VALUE');
    return v;
  };
  const number = (v: string, flag: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag}: "${v}" is not a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const v = () => inline ?? value(++i, flag);
    switch (flag) {
      case '--speed':
        out.speed = number(v(), flag, 1);
        break;
      case '--seed':
        out.seed = Math.floor(number(v(), flag, 0));
        break;
      case '--duration': {
        const d = v();
        const ms = parseDuration(d);
        if (ms === undefined || ms <= 0) throw new UsageError(`--duration: "${d}" is not a duration such as 30s, 10m or 1h`);
        out.durationMs = ms;
        break;
      }
      case '--scenario': {
        const s = v();
        if (!Object.hasOwn(scenarios, s)) {
          throw new UsageError(`--scenario: "${s}" is not a scenario; the scenarios are ${Object.keys(scenarios).join(', ')}`);
        }
        out.scenario = s as Scenario;
        break;
      }
      case '--target':
        out.target = v();
        break;
      case '--token-file':
        out.token = readSecret(v(), '--token-file');
        break;
      case '--firecrawl-secret-file':
        out.firecrawlSecret = readSecret(v(), '--firecrawl-secret-file');
        break;
      case '--metrics-port':
        out.metricsPort = number(v(), flag, 0);
        break;
      case '--ingest-port':
        out.ingestPort = number(v(), flag, 0);
        break;
      default:
        throw unknownOption('demo', flag);
    }
  }
  return out;
}

const scenarioList = Object.entries(scenarios)
  .map(([name, what]) => `  ${name.padEnd(28)} ${what}`)
  .join('\n');

export const demo: Command = {
  summary: 'run a simulated fleet (scrapers, crawl, video and image pipelines) feeding a sidecar',
  help: `pipemeter demo: a realistic simulated fleet, so every panel and alert has data on the first run.

Usage: pipemeter demo [options]

Without --target it starts a sidecar in this process (metrics on :9464, ingest on
127.0.0.1:9465) and feeds it over the ingest API, as real processes would: six scrapers (one of
them, livetracklist, silently stops creating items after one simulated hour), a crawl pipeline
driven through the Firecrawl webhook endpoint with signed payloads and per-page chunking,
embedding, qdrant and bm25 stages, video workers through seven stages with media durations, and
Celery-style image jobs (download, validate, upload). Without --scenario it pages no one: jobs
fail rarely and evenly (one in 400), under every alert's threshold; docs/operations.md lists
the few alerts it makes go pending by design (livetracklist's silent failure, a missing
node_exporter).

Options:
  --speed N                  simulated seconds per real second (default 60)
  --seed N                   seed of the random generator; the same seed gives the same fleet (default 1)
  --duration D               stop after D (30s, 10m, 1h); default: run until Ctrl-C
  --scenario NAME            make one alert's condition happen (see below)
  --target URL               feed an external sidecar's ingest API (e.g. http://127.0.0.1:9465)
  --token-file F             the ingest Bearer token, with --target
  --firecrawl-secret-file F  the crawl pipeline's webhook secret, with --target
  --metrics-port N           the in-process sidecar's metrics port (default 9464; 0 picks one)
  --ingest-port N            the in-process sidecar's ingest port (default 9465; 0 picks one)

Scenarios (each alert's own window and "for" still apply: rules see real time, not demo time):
${scenarioList}
  TargetDown, TargetAbsent     no scenario needed: stop the demo (Ctrl-C) while Prometheus scrapes it
  PipemeterStatsdDatagramsDropped  none: the demo sends no StatsD (the statsd tests drive it with a flood)

Examples:
  pipemeter demo
  pipemeter demo --speed 600 --duration 10m --seed 7
  pipemeter demo --scenario ScraperHighSchemaErrorRate
  pipemeter demo --target http://127.0.0.1:9465 --firecrawl-secret-file ./firecrawl-secret
`,
  async run(argv, io) {
    const args = parseArgs(argv);
    const log = (l: string) => io.stderr.write(l.endsWith('\n') ? l : l + '\n');
    const running = await startDemo({ ...args, log, listenFlags: { metrics: '--metrics-port', ingest: '--ingest-port' } });
    const base = running.metricsUrl?.replace(/\/metrics$/, '');
    const stack = localStack(defaults);
    io.stdout.write(
      `pipemeter demo: a simulated fleet at ${args.speed}x, seed ${args.seed}${args.scenario ? `, scenario ${args.scenario}` : ''}\n` +
        (base !== undefined
          ? `  metrics       ${running.metricsUrl}\n  landing page  ${base}/\n  ingest API    ${running.ingestUrl}/v1/events\n\n` +
            `Point a local Prometheus and Alertmanager at it with the shipped configs, from this checkout (Debian: apt-get install prometheus prometheus-alertmanager):\n` +
            `${renderCommand(stack.prometheus, '  ')}\n` +
            `${renderCommand(stack.alertmanager, '  ')}\n` +
            `(docs/operations.md walks through them, the Slack webhook URL file Alertmanager reads included.)\n`
          : `  feeding       ${running.ingestUrl}/v1/events\n`) +
        (args.durationMs ? `Stopping after ${args.durationMs / 1000} s.\n` : 'Ctrl-C stops it.\n'),
    );
    await new Promise<void>((resolve) => {
      const timer = args.durationMs ? setTimeout(resolve, args.durationMs) : undefined;
      const stop = () => {
        clearTimeout(timer);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await running.stop();
    const s = running.stats;
    io.stdout.write(
      `pipemeter demo: stopped; sent ${s.sent} events (${s.accepted} accepted, ${s.rejected} refused) and ${s.webhooks} webhooks; ${s.failedRequests} requests failed\n`,
    );
    return s.rejected > 0 || s.failedRequests > 0 ? 1 : 0;
  },
};
