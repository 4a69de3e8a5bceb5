/** Health probe families, named as the blackbox exporter names them; they replace a container-health gauge. */
import { gauge } from './family.js';

export const probeSuccess = gauge({
  name: 'probe_success',
  help: 'Whether the last health probe of the target succeeded (1) or not (0).',
  labels: ['target'],
  domain: 'probe',
  aggregate: 'min',
});

export const probeDuration = gauge({
  name: 'probe_duration_seconds',
  help: 'How long the last health probe of the target took.',
  labels: ['target'],
  domain: 'probe',
  unit: 'seconds',
  aggregate: 'max',
});

export const probeFamilies = [probeSuccess, probeDuration] as const;
