/**
 * Panels built with Grafana's own typed builders (@grafana/grafana-foundation-sdk, Grafana 11.6's schema), so a
 * field or option Grafana does not know fails to compile; the dashboards in grafana.ts say what, this file says how.
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as heatmap from '@grafana/grafana-foundation-sdk/heatmap';
import * as prometheus from '@grafana/grafana-foundation-sdk/prometheus';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';

/** The dashboards' datasource variable: every panel, query and query variable reads Prometheus through it. */
export const DATASOURCE_VARIABLE = 'datasource';
export const DS: dashboard.DataSourceRef = { type: 'prometheus', uid: `\${${DATASOURCE_VARIABLE}}` };

/** One PromQL query of a panel. */
export interface Query {
  expr: string;
  /** Legend, e.g. `{{scraper}}`; a table or stat value is named by it too. */
  legend?: string;
  /** Minimum step, e.g. `1d` for per-day bars. */
  interval?: string;
  /** Ask Prometheus for the exemplars (job ids) of the series the query reads; set on every quantile query, true or false. */
  exemplar?: boolean;
}

/** A threshold step: from `value` up (null: from minus infinity), the cell or value takes `color`. */
export type Step = dashboard.Threshold;

/** redFrom is green below `limit` and red from it up: the side of an alert's `> limit`. */
export const redFrom = (limit: number): Step[] => [
  { value: null, color: 'green' },
  { value: limit, color: 'red' },
];
/** redBelow is red below `limit` and green from it up: the side of an alert's `< limit`. */
export const redBelow = (limit: number): Step[] => [
  { value: null, color: 'red' },
  { value: limit, color: 'green' },
];

/** What every panel has, whatever it draws. */
interface PanelBase {
  title: string;
  description: string;
  /** Panel links (runbooks), shown in the panel header. */
  links?: { title: string; url: string }[];
  /** Grid width (of 24) and height; defaults 12 × 8. */
  w?: number;
  h?: number;
}

export interface TimeseriesSpec extends PanelBase {
  kind: 'timeseries';
  unit: string;
  queries: Query[];
  /** Bars, e.g. throughput per hour. */
  bars?: boolean;
}

export interface HeatmapSpec extends PanelBase {
  kind: 'heatmap';
  unit: string;
  /** `sum by (le) (...)` of a histogram's buckets; Grafana reads them as a pre-bucketed heatmap. */
  queries: Query[];
}

/** One number per query, coloured by thresholds; queries run instant (a glance needs no history). */
export interface StatSpec extends PanelBase {
  kind: 'stat';
  unit: string;
  queries: (Query & { steps?: Step[] })[];
  /** Default thresholds of every value; a query's `steps` override them for its value. */
  steps?: Step[];
}

/** A table column: one instant query, joined with the others on the key label. */
export interface Column {
  /** Column header. */
  name: string;
  expr: string;
  unit: string;
  /** Threshold steps; the cell background takes their colour. */
  steps?: Step[];
  /** What an empty cell (no sample for that row's key) says. */
  empty?: string;
}

export interface TableSpec extends PanelBase {
  kind: 'table';
  /** The label every column's query keeps (`sum by (<key>)`), the first column. */
  key: string;
  columns: Column[];
  /** A link from each key cell, e.g. to the detail dashboard; `${__value.raw}` is the cell's value. */
  keyLink?: { title: string; url: string };
}

/** A row header: the panels after it, up to the next row, are its section of the dashboard. */
export interface RowSpec {
  kind: 'row';
  title: string;
}

export type PanelSpec = TimeseriesSpec | HeatmapSpec | StatSpec | TableSpec | RowSpec;

/** The builder methods layout needs; every panel builder of the SDK has them. */
interface PanelBuilder extends cog.Builder<dashboard.Panel> {
  id(id: number): this;
  gridPos(gridPos: dashboard.GridPos): this;
}

const refId = (i: number) => String.fromCharCode(65 + i);

function query(q: Query, i: number, format?: prometheus.PromQueryFormat, instant = false): prometheus.DataqueryBuilder {
  const b = new prometheus.DataqueryBuilder().refId(refId(i)).datasource(DS).expr(q.expr);
  if (q.legend !== undefined) b.legendFormat(q.legend);
  if (format !== undefined) b.format(format);
  if (instant) b.instant();
  if (q.interval !== undefined) b.interval(q.interval);
  if (q.exemplar !== undefined) b.exemplar(q.exemplar);
  return b;
}

function thresholds(steps: Step[]): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder().mode(dashboard.ThresholdsMode.Absolute).steps(steps);
}

function links(spec: PanelBase): dashboard.DashboardLinkBuilder[] {
  return (spec.links ?? []).map((l) => new dashboard.DashboardLinkBuilder(l.title).url(l.url).targetBlank(true));
}

/** Field-config overrides, each value typed by the SDK; the ids are Grafana's field-config paths. */
const set = {
  unit: (unit: string): dashboard.DynamicConfigValue => ({ id: 'unit', value: unit }),
  thresholds: (steps: Step[]): dashboard.DynamicConfigValue => ({ id: 'thresholds', value: thresholds(steps).build() }),
  colorByThresholds: (): dashboard.DynamicConfigValue => ({
    id: 'color',
    value: { mode: dashboard.FieldColorModeId.Thresholds } satisfies dashboard.FieldColor,
  }),
  cell: (cell: common.TableCellOptions): dashboard.DynamicConfigValue => ({ id: 'custom.cellOptions', value: cell }),
  mappings: (mappings: dashboard.ValueMapping[]): dashboard.DynamicConfigValue => ({ id: 'mappings', value: mappings }),
  links: (l: { title: string; url: string }[]): dashboard.DynamicConfigValue => ({
    id: 'links',
    value: l.map((x) => new dashboard.DashboardLinkBuilder(x.title).url(x.url).build()),
  }),
};

function timeseriesPanel(spec: TimeseriesSpec): PanelBuilder {
  const b = new timeseries.PanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DS)
    .unit(spec.unit)
    .targets(spec.queries.map((q, i) => query(q, i)))
    .legend(
      new common.VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(common.LegendDisplayMode.Table)
        .placement(common.LegendPlacement.Bottom)
        .calcs(['mean', 'max', 'lastNotNull']),
    )
    .tooltip(new common.VizTooltipOptionsBuilder().mode(common.TooltipDisplayMode.Multi).sort(common.SortOrder.Descending))
    .links(links(spec));
  if (spec.bars === true) b.drawStyle(common.GraphDrawStyle.Bars).fillOpacity(80);
  return b;
}

function heatmapPanel(spec: HeatmapSpec): PanelBuilder {
  return new heatmap.PanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DS)
    .targets(spec.queries.map((q, i) => query(q, i, prometheus.PromQueryFormat.Heatmap)))
    .calculate(false)
    .yAxis(new heatmap.YAxisConfigBuilder().unit(spec.unit))
    .cellGap(1)
    .color(new heatmap.HeatmapColorOptionsBuilder().mode(heatmap.HeatmapColorMode.Scheme).scheme('Oranges'))
    .links(links(spec));
}

function statPanel(spec: StatSpec): PanelBuilder {
  const b = new stat.PanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DS)
    .unit(spec.unit)
    .targets(spec.queries.map((q, i) => query(q, i, prometheus.PromQueryFormat.TimeSeries, true)))
    .reduceOptions(new common.ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false).fields(''))
    .graphMode(common.BigValueGraphMode.None)
    .colorMode(spec.steps === undefined && spec.queries.every((q) => q.steps === undefined) ? common.BigValueColorMode.None : common.BigValueColorMode.Background)
    .textMode(spec.queries.length > 1 ? common.BigValueTextMode.ValueAndName : common.BigValueTextMode.Value)
    .links(links(spec));
  if (spec.steps !== undefined) b.thresholds(thresholds(spec.steps));
  spec.queries.forEach((q, i) => {
    if (q.steps !== undefined) b.overrideByQuery(refId(i), [set.thresholds(q.steps)]);
  });
  return b;
}

/** Grafana names the value column of instant table query `X` "Value #X" when a panel has several queries. */
const valueField = (i: number) => `Value #${refId(i)}`;

/** The `organize` transformation's options (Grafana's organizeFieldsTransformer); the SDK types them as `any`. */
interface OrganizeOptions {
  excludeByName: Record<string, boolean>;
  indexByName: Record<string, number>;
  renameByName: Record<string, string>;
}

function tablePanel(spec: TableSpec): PanelBuilder {
  const organize: OrganizeOptions = {
    excludeByName: { Time: true },
    indexByName: Object.fromEntries([[spec.key, 0], ...spec.columns.map((_, i) => [valueField(i), i + 1])]),
    renameByName: Object.fromEntries(spec.columns.map((c, i) => [valueField(i), c.name])),
  };
  const b = new table.PanelBuilder()
    .title(spec.title)
    .description(spec.description)
    .datasource(DS)
    .targets(spec.columns.map((c, i) => query({ expr: c.expr }, i, prometheus.PromQueryFormat.Table, true)))
    // One row per key: the instant results are merged on their common label, then the columns named and ordered.
    .withTransformation({ id: 'merge', options: {} })
    .withTransformation({ id: 'organize', options: organize })
    .cellHeight(common.TableCellHeight.Sm)
    .sortBy([new common.TableSortByFieldStateBuilder().displayName(spec.key)])
    .links(links(spec));
  if (spec.keyLink !== undefined) b.overrideByName(spec.key, [set.links([spec.keyLink])]);
  for (const c of spec.columns) {
    const props = [set.unit(c.unit)];
    if (c.steps !== undefined) {
      props.push(set.thresholds(c.steps), set.colorByThresholds(), set.cell({ type: common.TableCellDisplayMode.ColorBackground }));
    }
    if (c.empty !== undefined) {
      props.push(set.mappings([{ type: dashboard.MappingType.SpecialValue, options: { match: dashboard.SpecialValueMatch.Null, result: { text: c.empty } } }]));
    }
    b.overrideByName(c.name, props);
  }
  return b;
}

function builderOf(spec: Exclude<PanelSpec, RowSpec>): PanelBuilder {
  switch (spec.kind) {
    case 'timeseries':
      return timeseriesPanel(spec);
    case 'heatmap':
      return heatmapPanel(spec);
    case 'stat':
      return statPanel(spec);
    case 'table':
      return tablePanel(spec);
  }
}

/** Panel grid: 24 columns; panels fill a row left to right and wrap when the next one does not fit. */
export const GRID_COLUMNS = 24;

/** A placed panel, or a row header (expanded: the panels of its section follow it in the dashboard's list). */
export type Placed = { panel: dashboard.Panel } | { row: dashboard.RowPanel };

/**
 * panels builds every spec and places it: ids in order from 1, grid lines as tall as their tallest panel; a row
 * header starts a new line, full width and one unit tall.
 */
export function panels(specs: readonly PanelSpec[]): Placed[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return specs.map((spec, i): Placed => {
    if (spec.kind === 'row') {
      y += rowHeight;
      const row = new dashboard.RowBuilder(spec.title).id(i + 1).collapsed(false).gridPos({ x: 0, y, w: GRID_COLUMNS, h: 1 }).build();
      x = 0;
      y += 1;
      rowHeight = 0;
      return { row };
    }
    const w = spec.w ?? 12;
    const h = spec.h ?? 8;
    if (x + w > GRID_COLUMNS) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const panel = builderOf(spec).id(i + 1).gridPos({ x, y, w, h }).build();
    x += w;
    rowHeight = Math.max(rowHeight, h);
    return { panel };
  });
}
