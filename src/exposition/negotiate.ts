/** Content negotiation: OpenMetrics when the Accept header prefers it (as Prometheus sends it), else text 0.0.4. */
import type { Format } from './render.js';

/** negotiate picks the format with the highest q the client accepts; text wins ties and when nothing matches. */
export function negotiate(accept: string | undefined): Format {
  if (accept === undefined || accept === '') return 'text';
  let om = -1;
  let text = -1;
  for (const part of accept.split(',')) {
    const [mediaRaw, ...params] = part.split(';');
    const media = mediaRaw!.trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim().toLowerCase() === 'q') q = Number(v) || 0;
    }
    if (media === 'application/openmetrics-text') om = Math.max(om, q);
    else if (media === 'text/plain' || media === 'text/*' || media === '*/*') text = Math.max(text, q);
  }
  return om > 0 && om > text ? 'openmetrics' : 'text';
}
