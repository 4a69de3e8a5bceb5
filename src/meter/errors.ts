/** Why a recording call was ignored: the value of `pipemeter_instrumentation_errors_total{reason}`. */
import type { instrumentationErrorReasons } from '../catalog/index.js';

export type InstrumentationErrorReason = (typeof instrumentationErrorReasons)[number];
