/** `pipemeter check`: fetch each target's /metrics, parse it strictly, and report what would hurt in Prometheus. */
import { Agent } from 'undici';
import { formatOf, parseExposition } from '../../exposition/parse.js';
import { analyse } from '../check/analyse.js';
import { fetchMetrics } from '../check/fetch.js';
import { type CheckReport, REPORT_VERSION, type TargetReport, exitCode, isProblem, renderHuman, renderJson } from '../check/report.js';
import { type CheckSettings, checkDefaults, formatDuration, parseCheckArgs } from '../check/settings.js';
import type { CliIO, Command } from '../command.js';

const help = `pipemeter check: fetch each target's /metrics and report what Prometheus would choke on.

Usage: pipemeter check URL... [options]

Each URL is fetched as Prometheus scrapes it (OpenMetrics preferred, text 0.0.4 accepted),
parsed strictly, and checked for: exposition problems (with line numbers), stale
*_last_success_timestamp_seconds, families over --max-series, label names and values that
look like ids (UUIDs, hashes, numeric ids, URLs with paths, e-mails, timestamps), and with
--catalog the catalog families the target's kind (scraper, pipeline, sidecar) should have.
A URL without a path gets /metrics; without a scheme, http://.

Options:
  --catalog         compare with the metric catalog (missing families, types, labels)
  --json            print the report as JSON (version 1; see docs/check.md)
  --max-series N    series one family may have (default ${checkDefaults.maxSeries})
  --max-age DUR     a last success older than this is stale (default ${formatDuration(checkDefaults.maxAgeSeconds * 1000)})
  --timeout DUR     per attempt (default ${formatDuration(checkDefaults.timeoutMs)})
  --retries N       retries after a connection error, timeout, 429 or 5xx (default ${checkDefaults.retries})
  --top N           families to list by series count (default ${checkDefaults.top})

Exit codes: 0 ok (notes allowed), 1 findings, 2 a target unreachable or a usage error.

Examples:
  pipemeter check localhost:9464
  pipemeter check http://scraper-1:8000/metrics http://scraper-2:8000/metrics --catalog
  pipemeter check http://worker:9464/metrics --max-age 6h --max-series 500 --json
`;

/** checkTargets fetches and analyses every target (in parallel, reported in the order given). */
export async function checkTargets(settings: CheckSettings, now: () => number = Date.now): Promise<CheckReport> {
  const dispatcher = new Agent({ connections: 4 });
  try {
    const targets = await Promise.all(
      settings.urls.map(async (url): Promise<TargetReport> => {
        const res = await fetchMetrics(url, { ...settings, dispatcher });
        if (!res.ok) {
          return {
            url,
            ok: false,
            reachable: false,
            status: res.status ?? null,
            format: null,
            families: 0,
            series: 0,
            kinds: [],
            top: [],
            findings: [{ severity: 'error', code: 'unreachable', message: `${res.error} (after ${res.attempts} attempt${res.attempts === 1 ? '' : 's'})` }],
          };
        }
        const a = analyse(parseExposition(res.body, formatOf(res.contentType)), settings, now());
        return { url, ok: !a.findings.some(isProblem), reachable: true, status: res.status, ...a };
      }),
    );
    return { version: REPORT_VERSION, ok: targets.every((t) => t.ok), targets };
  } finally {
    await dispatcher.close();
  }
}

export const check: Command = {
  summary: 'check /metrics endpoints: exposition, catalog, staleness, cardinality',
  help,
  async run(argv: string[], io: CliIO): Promise<number> {
    const settings = parseCheckArgs(argv);
    const report = await checkTargets(settings);
    const colour = io.isTTY && (io.env.NO_COLOR ?? '') === '';
    io.stdout.write(settings.json ? renderJson(report) : renderHuman(report, colour));
    return exitCode(report);
  },
};
