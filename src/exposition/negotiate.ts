/**
 * Content negotiation: protobuf when the scraper asks for it first (Prometheus does with native histograms on),
 * OpenMetrics when the Accept header prefers it (as Prometheus sends it), else text 0.0.4.
 */
import type { ScrapeFormat } from '../meter/meter.js';

/**
 * negotiate picks the format with the highest q the client accepts. Protobuf counts only as delimited
 * `io.prometheus.client.MetricFamily` messages, and wins a tie with a text format when it is listed before it; between
 * the text formats text wins ties, and when nothing matches.
 */
export function negotiate(accept: string | undefined): ScrapeFormat {
  if (accept === undefined || accept === '') return 'text';
  let om = -1;
  let text = -1;
  let pb = -1;
  /** Where protobuf's best q was listed, and where a text format's best q first was. */
  let pbAt = Infinity;
  let textAt = Infinity;
  const parts = accept.split(',');
  for (let i = 0; i < parts.length; i++) {
    const [mediaRaw, ...params] = parts[i]!.split(';');
    const media = mediaRaw!.trim().toLowerCase();
    let q = 1;
    let proto = '';
    let encoding = '';
    for (const p of params) {
      const [k, v] = p.split('=');
      const key = k?.trim().toLowerCase();
      const value = (v ?? '').trim();
      if (key === 'q') q = Number(value) || 0;
      else if (key === 'proto') proto = value;
      else if (key === 'encoding') encoding = value.toLowerCase();
    }
    if (media === 'application/vnd.google.protobuf') {
      if (proto === 'io.prometheus.client.MetricFamily' && encoding === 'delimited' && q > pb) [pb, pbAt] = [q, i];
      continue;
    }
    const before = Math.max(om, text);
    if (media === 'application/openmetrics-text') om = Math.max(om, q);
    else if (media === 'text/plain' || media === 'text/*' || media === '*/*') text = Math.max(text, q);
    else continue;
    if (q > before) textAt = i;
  }
  const best = Math.max(om, text);
  if (pb > 0 && (pb > best || (pb === best && pbAt < textAt))) return 'protobuf';
  return om > 0 && om > text ? 'openmetrics' : 'text';
}
