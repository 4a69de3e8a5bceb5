/** `pipemeter serve`: runs the sidecar on its two listeners until SIGTERM/SIGINT, then drains, snapshots and exits 0. */
import { readConfig, startSidecar } from '../../sidecar/host.js';
import { createSidecar } from '../../sidecar/sidecar.js';
import { type Command, UsageError } from '../command.js';

interface ServeArgs {
  config?: string;
  checkOnly: boolean;
}

function parseArgs(argv: readonly string[]): ServeArgs {
  const out: ServeArgs = { checkOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check-config') out.checkOnly = true;
    else if (a === '--config' || a === '-c') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('-')) throw new UsageError('--config needs a file, e.g. --config config/pipemeter.yaml');
      out.config = v;
    } else if (a.startsWith('--config=')) out.config = a.slice('--config='.length);
    else throw new UsageError(`unknown option "${a}"; see pipemeter serve --help`);
  }
  return out;
}

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}

export const serve: Command = {
  summary: 'run the sidecar: ingest events and webhooks, expose them on /metrics',
  help: `pipemeter serve: run the sidecar beside processes in any language.

Usage: pipemeter serve [--config FILE] [--check-config]

Options:
  -c, --config FILE   the YAML configuration (default: the embedded config/pipemeter.yaml)
  --check-config      validate the configuration and its secret files, then exit
                      (0 and one line when valid; 2 and every problem as file:line:col otherwise)

Listeners (from the config):
  metrics  0.0.0.0:9464    /metrics, /healthz, /readyz, landing page at /
  ingest   127.0.0.1:9465  POST /v1/events, POST /v1/webhooks/firecrawl/{pipeline}
  statsd   127.0.0.1:9125  UDP, StatsD/DogStatsD lines (only with statsd.enabled: true)

SIGTERM or SIGINT: stop accepting, drain in-flight requests, write the state file, exit 0.

Examples:
  pipemeter serve
  pipemeter serve --config config/examples/crawl-pipeline.yaml
  pipemeter serve --config /etc/pipemeter/pipemeter.yaml --check-config
  curl -s localhost:9465/v1/events -H 'Content-Type: application/json' \\
    -d '{"type":"item_created","scraper":"beatport","item_type":"track","source":"https://www.beatport.com/track/x/1"}'
`,
  async run(argv, io) {
    const args = parseArgs(argv);
    const config = readConfig(args.config);
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
    const running = await startSidecar(config, { deps: { logger: log }, onListening });
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
