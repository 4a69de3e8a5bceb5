/** pipemeter's own families: what the toolkit dropped, refused or folded, so nothing is lost silently. */
import { counter, gauge } from './family.js';

/** Why a recording call was ignored: the values of `pipemeter_instrumentation_errors_total{reason}`. */
export const instrumentationErrorReasons = [
  'invalid_value',
  'negative_increment',
  'invalid_labels',
  'job_finished_twice',
  'job_unknown_outcome',
  'callback_not_function',
  'invalid_route',
] as const;

export const seriesOverflow = counter({
  name: 'pipemeter_series_overflow_total',
  help: 'Recordings folded into a family\'s overflow series because the family reached its series cap.',
  labels: ['metric'],
  domain: 'self',
});

export const instrumentationErrors = counter({
  name: 'pipemeter_instrumentation_errors_total',
  help: 'Recording calls that were ignored because they were invalid, by reason.',
  labels: ['reason'],
  domain: 'self',
  values: { reason: instrumentationErrorReasons },
});

export const nativeResolutionReductions = counter({
  name: 'pipemeter_native_histogram_resolution_reductions_total',
  help: 'Times a native histogram series halved its resolution (lowered its schema by one) because it held more buckets than its limit.',
  labels: ['metric'],
  domain: 'self',
});

export const buildInfo = gauge({
  name: 'pipemeter_build_info',
  help: 'Always 1; the version label names the pipemeter release.',
  labels: ['version'],
  domain: 'self',
  aggregate: 'max',
});

export const selfFamilies = [seriesOverflow, instrumentationErrors, nativeResolutionReductions, buildInfo] as const;
