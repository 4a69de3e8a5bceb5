/** Renders families as Prometheus text 0.0.4 or OpenMetrics 1.0 (with exemplars). */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { MetricFamily } from '../meter/family.js';
import type { ExpositionFormat, ScrapeFormat } from '../meter/meter.js';
import type { Exemplar, Series } from '../meter/series.js';
import { ByteWriter, escapeLabelValue, formatNumber } from './writer.js';

export { formatNumber };

/** The text exposition formats: Prometheus text 0.0.4 and OpenMetrics 1.0. */
export type Format = ExpositionFormat;

export const CONTENT_TYPE: Record<ScrapeFormat, string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
  protobuf: 'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited',
};



function escapeHelp(v: string, format: Format): string {
  const s = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return format === 'openmetrics' ? s.replace(/"/g, '\\"') : s;
}

function exemplarText(e: Exemplar | undefined): string {
  if (e === undefined) return '';
  let l = '';
  for (const k in e.labels) l += (l === '' ? '' : ',') + k + '="' + escapeLabelValue(e.labels[k]!) + '"';
  return ' # {' + l + '} ' + formatNumber(e.value) + ' ' + e.timestamp.toFixed(3);
}

/** The family name OpenMetrics declares: a counter's `_total` is a sample suffix, not part of the family name. */
export function omFamilyName(name: string, type: string): string {
  return type === 'counter' && name.endsWith('_total') ? name.slice(0, -6) : name;
}

function header(f: MetricFamily, format: Format): string {
  let h = f.rendered[format];
  if (h !== undefined) return h;
  const def = f.def;
  if (format === 'text') {
    h = `# HELP ${def.name} ${escapeHelp(def.help, format)}\n# TYPE ${def.name} ${def.type}\n`;
  } else {
    const n = omFamilyName(def.name, def.type);
    h = `# TYPE ${n} ${def.type}\n`;
    if (def.unit !== undefined && n.endsWith('_' + def.unit)) h += `# UNIT ${n} ${def.unit}\n`;
    h += `# HELP ${n} ${escapeHelp(def.help, format)}\n`;
  }
  f.rendered[format] = h;
  return h;
}

const [NL, SPACE, COMMA, EQ, QUOTE, LBRACE, RBRACE] = [10, 32, 44, 61, 34, 123, 125];

/** writePairs writes `a="x",b="y"` piece by piece: nothing is allocated unless a value needs escaping. */
function writePairs(w: ByteWriter, names: readonly string[], values: readonly string[]): void {
  for (let i = 0; i < names.length; i++) {
    if (i > 0) w.byte(COMMA);
    w.text(names[i]!);
    w.byte(EQ);
    w.byte(QUOTE);
    w.labelValue(values[i]!);
    w.byte(QUOTE);
  }
}

/**
 * renderSeries writes one series, piece by piece, caching nothing per series: a cache lives as long as
 * its series (measured: 249 B per counter series after a scrape, 649 B with a cached line head), and
 * building 100k of them in the first scrape after the series appear is a burst of allocations that
 * made the collector pause the event loop for 27 ms. A histogram writes its
 * bucket line head (`name_bucket{a="x",b="y",`) once and copies it within the output for the other
 * bucket lines, and its label pairs likewise for the sum and count lines.
 */
function renderSeries(f: MetricFamily, s: Series, om: boolean, w: ByteWriter): void {
  const labelled = s.labelValues.length > 0;
  if (s.kind === 'histogram') {
    const names = familyNames(f);
    const les = names.les;
    const counts = s.counts;
    // Where the last copy of the head starts in the output, and its length.
    let at = -1;
    let len = 0;
    let cum = 0;
    for (let i = 0; i < les.length; i++) {
      cum += counts[i]!;
      if (at >= 0) at = w.repeat(at, len);
      else {
        at = w.length;
        w.bytes(names.bucket);
        if (labelled) {
          writePairs(w, f.labelNames, s.labelValues);
          w.byte(COMMA);
        }
        len = w.length - at;
      }
      w.bytes(les[i]!);
      w.count(cum);
      if (om && s.exemplars[i] !== undefined) w.text(exemplarText(s.exemplars[i]));
      w.byte(NL);
    }
    // The label pairs: the head without its name and trailing comma.
    let pairsAt = at + names.bucket.length;
    const pairsLen = len - names.bucket.length - 1;
    pairsAt = summaryHead(w, names.sum, s, pairsAt, pairsLen);
    w.text(formatNumber(s.sum));
    w.byte(NL);
    summaryHead(w, names.count, s, pairsAt, pairsLen);
    w.count(s.count);
    w.byte(NL);
    return;
  }
  // Custom counters are refused without `_total`, so the sample name is the same in both formats.
  w.text(f.name);
  if (labelled) {
    w.byte(LBRACE);
    writePairs(w, f.labelNames, s.labelValues);
    w.byte(RBRACE);
  }
  w.byte(SPACE);
  if (s.kind === 'counter') w.count(s.value);
  else w.text(formatNumber(s.value));
  if (om && s.kind === 'counter' && s.exemplar !== undefined) w.text(exemplarText(s.exemplar));
  w.byte(NL);
}

/** summaryHead writes `name{a="x",b="y"} ` of a sum or count line, copying the pairs; returns where it wrote them. */
function summaryHead(w: ByteWriter, name: Buffer, s: Series, pairsAt: number, pairsLen: number): number {
  w.bytes(name);
  if (s.labelValues.length > 0) {
    w.byte(LBRACE);
    pairsAt = w.repeat(pairsAt, pairsLen);
    w.byte(RBRACE);
  }
  w.byte(SPACE);
  return pairsAt;
}

/** A histogram family's sample names as bytes (`name_bucket{`, `name_sum`, `name_count`) and its `le="<bound>"} ` tails. */
interface FamilyNames {
  readonly bucket: Buffer;
  readonly sum: Buffer;
  readonly count: Buffer;
  readonly les: readonly Buffer[];
}
const familyNamesCache = new WeakMap<MetricFamily, FamilyNames>();
function familyNames(f: MetricFamily): FamilyNames {
  let n = familyNamesCache.get(f);
  if (n === undefined) {
    const les = [...f.upperBounds].map((b) => Buffer.from('le="' + formatNumber(b) + '"} '));
    les.push(Buffer.from('le="+Inf"} '));
    n = { bucket: Buffer.from(f.name + '_bucket{'), sum: Buffer.from(f.name + '_sum'), count: Buffer.from(f.name + '_count'), les };
    familyNamesCache.set(f, n);
  }
  return n;
}

/** How long one slice of a render may hold the event loop, in ms. */
export const SLICE_MS = 3;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * renderFamiliesSliced writes every family that has at least one series, and gives the event loop back every few
 * milliseconds, so a scrape of 100k series does not stall the ingest it shares a process with.
 * A series is never split across slices: each one is rendered from one consistent state.
 */
export async function renderFamiliesSliced(w: ByteWriter, families: Iterable<MetricFamily>, format: Format, sliceMs = SLICE_MS): Promise<void> {
  const om = format === 'openmetrics';
  let t0 = performance.now();
  let n = 0;
  for (const f of families) {
    if (f.series.size === 0 && f.overflowSeries === undefined) continue;
    w.text(header(f, format));
    for (const s of f.series.values()) {
      renderSeries(f, s, om, w);
      // The clock is read every 16 series: cheap next to rendering them, and a slice overshoots by little.
      if ((++n & 15) === 0 && performance.now() - t0 > sliceMs) {
        await yieldToLoop();
        t0 = performance.now();
      }
    }
    if (f.overflowSeries !== undefined) renderSeries(f, f.overflowSeries, om, w);
  }
}

function sampleLine(name: string, v: MetricValue<string>): string {
  const labels = v.labels as Record<string, string | number>;
  let lp = '';
  for (const k in labels) {
    const val = labels[k];
    if (val === undefined) continue;
    lp += (lp === '' ? '' : ',') + k + '="' + escapeLabelValue(String(val)) + '"';
  }
  return name + (lp === '' ? '' : '{' + lp + '}') + ' ' + formatNumber(v.value) + '\n';
}

/** renderRegistry writes prom-client metrics (as `registry.getMetricsAsJSON()` returns them) in either format. */
export function renderRegistry(metrics: readonly MetricObjectWithValues<MetricValue<string>>[], format: Format): string {
  let out = '';
  for (const m of metrics) {
    const type = String(m.type);
    const om = format === 'openmetrics';
    const family = om ? omFamilyName(m.name, type) : m.name;
    out += om
      ? `# TYPE ${family} ${type}\n# HELP ${family} ${escapeHelp(m.help, format)}\n`
      : `# HELP ${m.name} ${escapeHelp(m.help, format)}\n# TYPE ${m.name} ${type}\n`;
    for (const v of m.values) {
      const sample = (v as MetricValue<string> & { metricName?: string }).metricName;
      const name = sample ?? (om && type === 'counter' ? family + '_total' : m.name);
      out += sampleLine(name, v);
    }
  }
  return out;
}
