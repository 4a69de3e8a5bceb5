/** checkTargets: fetch each target's /metrics, parse it strictly, and analyse it into one report. */
import { Agent } from 'undici';
import { formatOf, parseExposition } from '../exposition/parse.js';
import { analyse } from './analyse.js';
import { fetchMetrics } from './fetch.js';
import { type CheckReport, REPORT_VERSION, type TargetReport, isProblem } from './report.js';
import { type CheckSettings, splitCredentials } from './settings.js';

const PROTOBUF = /^\s*application\/vnd\.google\.protobuf\b/i;

/** checkTargets fetches and analyses every target (in parallel, reported in the order given). */
export async function checkTargets(settings: CheckSettings, now: () => number = Date.now): Promise<CheckReport> {
  const dispatcher = new Agent({ connections: 4 });
  try {
    const targets = await Promise.all(
      settings.urls.map(async (target): Promise<TargetReport> => {
        // The URL's user and password go in a Basic header, as Prometheus's basic_auth sends them; reports show `user:***@`.
        const { url: fetched, shown: url, basic } = splitCredentials(target);
        const bearer = settings.bearerToken === undefined ? undefined : `Bearer ${settings.bearerToken}`;
        const res = await fetchMetrics(fetched, { ...settings, dispatcher, authorization: basic ?? bearer });
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
        if (PROTOBUF.test(res.contentType ?? '')) {
          // check asks for the text formats only (fetch.ts): a protobuf body here ignored the Accept header.
          return {
            url,
            ok: false,
            reachable: true,
            status: res.status,
            format: null,
            families: 0,
            series: 0,
            kinds: [],
            top: [],
            findings: [
              {
                severity: 'error',
                code: 'protobuf-answer',
                message: `the target answered protobuf (${res.contentType}) although check asked for OpenMetrics or text, as Prometheus without native histograms does; check reads the text formats only: make the target answer what the Accept header asks for`,
              },
            ],
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
