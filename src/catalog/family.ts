/** Family definitions: the plain data every other layer reads (meter, exposition, rules, dashboards, docs). */

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** Base units as OpenMetrics names them; the family name ends with `_<unit>` (before `_total`). */
export type MetricUnit = 'seconds' | 'bytes' | 'ratio';

/**
 * Who emits a family, so generators and `check` know which families a target of a kind should have.
 * `custom` is a family a user declares at run time; it is never in the catalog.
 */
export type FamilyDomain = 'scraper' | 'pipeline' | 'http' | 'self' | 'sidecar' | 'probe' | 'broker' | 'custom';

export interface FamilyDef<L extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labels: readonly L[];
  readonly domain: FamilyDomain;
  readonly unit?: MetricUnit;
  /** Upper bounds of histogram buckets, ascending, without +Inf. */
  readonly buckets?: readonly number[];
  /** Closed sets of label values; these series start at 0 for every bound owner (scraper, pipeline). */
  readonly values?: { readonly [K in L]?: readonly string[] };
}

type Def<L extends string> = Omit<FamilyDef<L>, 'type'>;

export function counter<const L extends string>(def: Def<L>): FamilyDef<L> & { type: 'counter' } {
  return { ...def, type: 'counter' };
}

export function gauge<const L extends string>(def: Def<L>): FamilyDef<L> & { type: 'gauge' } {
  return { ...def, type: 'gauge' };
}

export function histogram<const L extends string>(
  def: Def<L> & { buckets: readonly number[] },
): FamilyDef<L> & { type: 'histogram'; buckets: readonly number[] } {
  return { ...def, type: 'histogram' };
}
