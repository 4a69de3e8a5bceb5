/** Renders families as Prometheus text 0.0.4 or OpenMetrics 1.0 (with exemplars). */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { MetricFamily } from '../meter/family.js';
import type { Exemplar, Series } from '../meter/series.js';

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

export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
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

/** Per family `le` label pairs, cached on the family. */
const leCache = new WeakMap<MetricFamily, string[]>();
function leLabels(f: MetricFamily): string[] {
  let les = leCache.get(f);
  if (les === undefined) {
    les = [...f.upperBounds].map((b) => 'le="' + formatNumber(b) + '"');
    les.push('le="+Inf"');
    leCache.set(f, les);
  }
  return les;
}

function renderSeries(f: MetricFamily, s: Series, format: Format): string {
  const om = format === 'openmetrics';
  const lp = (s.rendered ??= pairs(f.labelNames, s.labelValues));
  const braces = lp === '' ? '' : '{' + lp + '}';
  switch (s.kind) {
    case 'gauge':
      return f.name + braces + ' ' + formatNumber(s.value) + '\n';
    case 'counter': {
      const name = om && !f.name.endsWith('_total') ? f.name + '_total' : f.name;
      return name + braces + ' ' + formatNumber(s.value) + (om ? exemplarText(s.exemplar) : '') + '\n';
    }
    case 'histogram': {
      const les = leLabels(f);
      const pre = f.name + '_bucket{' + (lp === '' ? '' : lp + ',');
      let out = '';
      let cum = 0;
      for (let i = 0; i < les.length; i++) {
        cum += s.counts[i]!;
        out += pre + les[i] + '} ' + cum + (om ? exemplarText(s.exemplars[i]) : '') + '\n';
      }
      out += f.name + '_sum' + braces + ' ' + formatNumber(s.sum) + '\n';
      out += f.name + '_count' + braces + ' ' + s.count + '\n';
      return out;
    }
  }
}

/** renderFamilies writes every family that has at least one series. */
export function renderFamilies(families: Iterable<MetricFamily>, format: Format): string {
  let out = '';
  for (const f of families) {
    if (f.series.size === 0 && f.overflowSeries === undefined) continue;
    out += header(f, format);
    for (const s of f.series.values()) out += renderSeries(f, s, format);
    if (f.overflowSeries !== undefined) out += renderSeries(f, f.overflowSeries, format);
  }
  return out;
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
