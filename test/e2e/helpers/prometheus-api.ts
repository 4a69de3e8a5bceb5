/** A small client for Prometheus's HTTP API (/api/v1): instant queries, targets, rules, alerts, exemplars. */

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Target {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface RuleGroup {
  name: string;
  file: string;
  rules: { type: 'recording' | 'alerting'; name: string; health: string; lastError?: string; state?: string }[];
}

export interface ActiveAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
}

export interface ExemplarSeries {
  seriesLabels: Record<string, string>;
  exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
}

export class PrometheusApi {
  constructor(readonly base: string) {}

  private async get<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
    const qs = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    const res = await fetch(`${this.base}${path}${qs.size > 0 ? `?${qs}` : ''}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    return body.data;
  }

  /** query runs an instant query (at `time`, Unix seconds, or now) and returns its vector. */
  async query(expr: string, time?: number): Promise<Sample[]> {
    const data = await this.get<{ resultType: string; result: Sample[] | [number, string] }>('/api/v1/query', {
      query: expr,
      ...(time === undefined ? {} : { time }),
    });
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
    if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
    return data.result as Sample[];
  }

  async targets(): Promise<Target[]> {
    return (await this.get<{ activeTargets: Target[] }>('/api/v1/targets', { state: 'active' })).activeTargets;
  }

  async ruleGroups(): Promise<RuleGroup[]> {
    return (await this.get<{ groups: RuleGroup[] }>('/api/v1/rules')).groups;
  }

  async alerts(): Promise<ActiveAlert[]> {
    return (await this.get<{ alerts: ActiveAlert[] }>('/api/v1/alerts')).alerts;
  }

  async exemplars(expr: string, start: number, end: number): Promise<ExemplarSeries[]> {
    return this.get<ExemplarSeries[]>('/api/v1/query_exemplars', { query: expr, start, end });
  }
}

/** finite keeps the samples whose value is a number (histogram_quantile over no observations gives NaN). */
export function finite(samples: readonly Sample[]): Sample[] {
  return samples.filter((s) => Number.isFinite(Number(s.value[1])));
}

/** seriesKey identifies a sample by its labels minus __name__, for joining quantile records. */
export function seriesKey(metric: Record<string, string>): string {
  return JSON.stringify(
    Object.entries(metric)
      .filter(([k]) => k !== '__name__')
      .sort(([a], [b]) => a.localeCompare(b)),
  );
}
