/** `pipemeter serve`: runs the sidecar on its two listeners until SIGTERM/SIGINT, then drains, snapshots and exits 0. */
import type { SidecarConfig } from '../../sidecar/config.js';
import { readConfig, startSidecar } from '../../sidecar/host.js';
import { createSidecar } from '../../sidecar/sidecar.js';
import { type Command, UsageError, missingValue, unknownOption } from '../command.js';

interface Address {
  host: string;
  port: number;
}

interface ServeArgs {
  config?: string;
  checkOnly: boolean;
  /** Listener addresses from the command line, over the config's (exporters take --web.listen-address). */
  metrics?: Address;
  ingest?: Address;
  statsd?: Address;
}

/** The address flags, by listener, as Prometheus exporters and statsd_exporter name theirs. */
const addressFlags = { '--web.listen-address': 'metrics', '--ingest.listen-address': 'ingest', '--statsd.listen-udp': 'statsd' } as const;
const examples: Record<string, string> = {
  '--config': 'config/pipemeter.yaml',
  '--web.listen-address': '0.0.0.0:9464',
  '--ingest.listen-address': '127.0.0.1:9465',
  '--statsd.listen-udp': '127.0.0.1:9125',
};

/** address reads HOST:PORT, [IPv6]:PORT or :PORT (every interface, as exporters read it). */
function address(flag: string, v: string): Address {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new UsageError(`${flag} needs HOST:PORT, e.g. ${flag}=${examples[flag]} or ${flag}=:${examples[flag]!.split(':')[1]}, got "${v}"`);
  const host = m[1] ?? m[2]!;
  return { host: host === '' ? (m[1] === undefined ? '0.0.0.0' : '::') : host, port };
}

function parseArgs(argv: readonly string[]): ServeArgs {
  const out: ServeArgs = { checkOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (flag !== a) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('-')) throw missingValue(flag, examples[flag === '-c' ? '--config' : flag]!);
      return v;
    };
    if (flag === '--check-config') {
      if (flag !== a) throw new UsageError('--check-config takes no value');
      out.checkOnly = true;
    } else if (flag === '--config' || flag === '-c') out.config = value();
    else if (Object.hasOwn(addressFlags, flag)) out[addressFlags[flag as keyof typeof addressFlags]] = address(flag, value());
    else throw unknownOption('serve', a.startsWith('--') ? flag : a);
  }
  return out;
}

/** withAddresses puts the command line's listener addresses over the config's. */
function withAddresses(config: SidecarConfig, args: ServeArgs): SidecarConfig {
  if (args.statsd !== undefined && !config.statsd.enabled) {
    throw new UsageError(`--statsd.listen-udp: StatsD is off in ${config.source}; set statsd.enabled: true there (with its mappings) to listen for it`);
  }
  return {
    ...config,
    listeners: {
      metrics: { ...config.listeners.metrics, ...args.metrics },
      ingest: { ...config.listeners.ingest, ...args.ingest },
    },
    statsd: { ...config.statsd, ...args.statsd },
  };
}

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

export const serve: Command = {
  summary: 'run the sidecar: ingest events and webhooks, expose them on /metrics',
  help: `pipemeter serve: run the sidecar beside processes in any language.

Usage: pipemeter serve [--config FILE] [--web.listen-address HOST:PORT] [--ingest.listen-address HOST:PORT]
                       [--statsd.listen-udp HOST:PORT] [--check-config]

Options:
  -c, --config FILE                  the YAML configuration (default: the embedded config/pipemeter.yaml)
  --web.listen-address HOST:PORT     where Prometheus scrapes (over listeners.metrics; :9464 is every interface)
  --ingest.listen-address HOST:PORT  where events arrive (over listeners.ingest; keep it on loopback or behind a token)
  --statsd.listen-udp HOST:PORT      the StatsD socket (over statsd.host/port; needs statsd.enabled: true)
  --check-config                     validate the configuration and its secret files, then exit
                                     (0 and one line when valid; 2 and every problem as file:line:col otherwise)

Listeners (from the config, or the flags above):
  metrics  0.0.0.0:9464    /metrics, /-/healthy and /healthz, /-/ready and /readyz, landing page at /
  ingest   127.0.0.1:9465  POST /v1/events, POST /v1/webhooks/firecrawl/{pipeline}
  statsd   127.0.0.1:9125  UDP, StatsD/DogStatsD lines (only with statsd.enabled: true)

SIGTERM or SIGINT: stop accepting, drain in-flight requests, write the state file, exit 0.

Examples:
  pipemeter serve
  pipemeter serve --web.listen-address=:9464 --ingest.listen-address=127.0.0.1:9465
  pipemeter serve --config config/examples/crawl-pipeline.yaml
  pipemeter serve --config /etc/pipemeter/pipemeter.yaml --check-config
  curl -s localhost:9465/v1/events -H 'Content-Type: application/json' \\
    -d '{"type":"item_created","scraper":"beatport","item_type":"track","source":"https://www.beatport.com/track/x/1"}'
`,
  async run(argv, io) {
    const args = parseArgs(argv);
    const config = withAddresses(readConfig(args.config), args);
    if (args.checkOnly) {
      // Building the sidecar reads the secret files and registers the custom families: what start-up would do. Its
      // warnings (a secret others may read, an ingest listener open to other hosts without a token) go to stderr.
      createSidecar(config, { logger: (m) => (m.includes(': warning: ') ? io.stderr.write(m.endsWith('\n') ? m : m + '\n') : undefined) });
      io.stdout.write(
        `pipemeter serve: ${config.source} is valid (${plural(config.scrapers.length, 'scraper')}, ${plural(config.pipelines.length, 'pipeline')}, ${plural(config.families.length, 'family', 'families')}, ${plural(config.probes.length, 'probe')})\n`,
      );
      return 0;
    }
    const log = (m: string) => io.stderr.write(m.endsWith('\n') ? m : m + '\n');
    // A large state file takes a while to read: say so at once, with where /metrics already answers.
    const onListening = (l: { metricsAddress: string }) => {
      if (config.state.file !== undefined) io.stdout.write(`pipemeter serve: reading the state file ${config.state.file}; /metrics answers on http://${l.metricsAddress}/metrics meanwhile, /readyz once it is read\n`);
    };
    const flags = { metrics: args.metrics && '--web.listen-address', ingest: args.ingest && '--ingest.listen-address', statsd: args.statsd && '--statsd.listen-udp' };
    const running = await startSidecar(config, { deps: { logger: log }, onListening, flags });
    // The addresses as bound: 0.0.0.0 says the listener takes connections from other hosts, which a loopback URL would hide.
    io.stdout.write(
      `pipemeter serve: metrics on http://${running.metricsAddress}/metrics, ingest on http://${running.ingestAddress}/v1/events${running.statsdAddress === undefined ? '' : `, statsd on ${running.statsdAddress}/udp`} (config ${config.source})\n`,
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    // A second signal during the drain means "now": exit without waiting (the state may be older).
    const force = (s: NodeJS.Signals) => {
      io.stderr.write(`pipemeter serve: ${s} again: exiting without waiting for the drain\n`);
      process.exit(130);
    };
    process.removeAllListeners('SIGTERM').removeAllListeners('SIGINT').once('SIGTERM', force).once('SIGINT', force);
    io.stdout.write(`pipemeter serve: ${signal}: draining requests and writing the state\n`);
    await running.close();
    process.removeListener('SIGTERM', force).removeListener('SIGINT', force);
    io.stdout.write('pipemeter serve: stopped\n');
    return 0;
  },
};
