/** Renders families as Prometheus text 0.0.4 or OpenMetrics 1.0 (with exemplars). */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { MetricFamily } from '../meter/family.js';
import type { Exemplar, Series } from '../meter/series.js';
import { ByteWriter, escapeLabelValue } from './writer.js';

export type Format = 'text' | 'openmetrics';

export const CONTENT_TYPE: Record<Format, string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** formatNumber writes a sample value as both formats read it. */
export function formatNumber(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return '' + v;
}


function escapeHelp(v: string, format: Format): string {
  const s = v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
  return format === 'openmetrics' ? s.replace(/"/g, '\\"') : s;
}

function pairs(names: readonly string[], values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += names[i] + '="' + escapeLabelValue(values[i]!) + '"';
  }
  return out;
}

function exemplarText(e: Exemplar | undefined): string {
  if (e === undefined) return '';
  let l = '';
  for (const k in e.labels) l += (l === '' ? '' : ',') + k + '="' + escapeLabelValue(e.labels[k]!) + '"';
  return ' # {' + l + '} ' + formatNumber(e.value) + ' ' + e.timestamp.toFixed(3);
}

/** The family name OpenMetrics declares: a counter's `_total` is a sample suffix, not part of the family name. */
function omFamilyName(name: string, type: string): string {
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

/** Per family `le="<bound>"} ` tails of bucket lines as bytes, cached on the family. */
const leCache = new WeakMap<MetricFamily, Buffer[]>();
function leTails(f: MetricFamily): Buffer[] {
  let les = leCache.get(f);
  if (les === undefined) {
    les = [...f.upperBounds].map((b) => Buffer.from('le="' + formatNumber(b) + '"} '));
    les.push(Buffer.from('le="+Inf"} '));
    leCache.set(f, les);
  }
  return les;
}

const [NL, SPACE, COMMA, EQ, QUOTE, LBRACE, RBRACE] = [10, 32, 44, 61, 34, 123, 125];

/** writeLabels writes `{a="x",b="y"}` piece by piece: nothing is allocated unless a value needs escaping. */
function writeLabels(w: ByteWriter, names: readonly string[], values: readonly string[]): void {
  w.byte(LBRACE);
  for (let i = 0; i < names.length; i++) {
    if (i > 0) w.byte(COMMA);
    w.text(names[i]!);
    w.byte(EQ);
    w.byte(QUOTE);
    w.labelValue(values[i]!);
    w.byte(QUOTE);
  }
  w.byte(RBRACE);
}

/**
 * renderSeries writes one series. Counters and gauges are written piece by piece and cache
 * nothing: a cached line head would cost every series a few hundred bytes for as long as it lives
 * (measured: 249 B per counter series after a scrape, 649 B with a cached head). A histogram writes
 * its head once per bucket, so it caches that head as bytes.
 */
function renderSeries(f: MetricFamily, s: Series, om: boolean, w: ByteWriter): void {
  const labelled = s.labelValues.length > 0;
  if (s.kind === 'histogram') {
    const les = leTails(f);
    const head = (s.head ??= Buffer.from(f.name + '_bucket{' + (labelled ? pairs(f.labelNames, s.labelValues) + ',' : '')));
    const counts = s.counts;
    let cum = 0;
    for (let i = 0; i < les.length; i++) {
      cum += counts[i]!;
      w.bytes(head);
      w.bytes(les[i]!);
      w.count(cum);
      if (om && s.exemplars[i] !== undefined) w.text(exemplarText(s.exemplars[i]));
      w.byte(NL);
    }
    const names = sumCountNames(f);
    w.bytes(names.sum);
    if (labelled) writeLabels(w, f.labelNames, s.labelValues);
    w.byte(SPACE);
    w.text(formatNumber(s.sum));
    w.byte(NL);
    w.bytes(names.count);
    if (labelled) writeLabels(w, f.labelNames, s.labelValues);
    w.byte(SPACE);
    w.count(s.count);
    w.byte(NL);
    return;
  }
  // Custom counters are refused without `_total`, so the sample name is the same in both formats.
  w.text(f.name);
  if (labelled) writeLabels(w, f.labelNames, s.labelValues);
  w.byte(SPACE);
  if (s.kind === 'counter') w.count(s.value);
  else w.text(formatNumber(s.value));
  if (om && s.kind === 'counter' && s.exemplar !== undefined) w.text(exemplarText(s.exemplar));
  w.byte(NL);
}

const sumCountCache = new WeakMap<MetricFamily, { sum: Buffer; count: Buffer }>();
function sumCountNames(f: MetricFamily): { sum: Buffer; count: Buffer } {
  let n = sumCountCache.get(f);
  if (n === undefined) sumCountCache.set(f, (n = { sum: Buffer.from(f.name + '_sum'), count: Buffer.from(f.name + '_count') }));
  return n;
}

/** renderFamiliesTo writes every family that has at least one series. */
export function renderFamiliesTo(w: ByteWriter, families: Iterable<MetricFamily>, format: Format): void {
  const om = format === 'openmetrics';
  for (const f of families) {
    if (f.series.size === 0 && f.overflowSeries === undefined) continue;
    w.text(header(f, format));
    for (const s of f.series.values()) renderSeries(f, s, om, w);
    if (f.overflowSeries !== undefined) renderSeries(f, f.overflowSeries, om, w);
  }
}

/** How long one slice of a render may hold the event loop, in ms. */
export const SLICE_MS = 3;
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * renderFamiliesSliced writes like renderFamiliesTo but gives the event loop back every few
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

/** renderFamilies returns the families as exposition text. */
export function renderFamilies(families: Iterable<MetricFamily>, format: Format): string {
  const w = new ByteWriter();
  renderFamiliesTo(w, families, format);
  return w.result().toString('utf8');
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
