import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { promtoolCheckMetrics, which } from './helpers/tools.js';

const root = new URL('..', import.meta.url).pathname;

describe('examples/worker.mjs', () => {
  it('runs against the built package, as a user would import it, and exposes what it recorded', () => {
    expect(existsSync(`${root}dist/index.js`), 'dist/ is built by npm test (pretest), npm start (prestart) and npm run build').toBe(true);
    const r = spawnSync(process.execPath, ['examples/worker.mjs', '--once'], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"} 3\n');
    expect(r.stdout).toContain('scraper_extraction_method_total{scraper="beatport",method="json_ld",success="true"} 3\n');
    expect(r.stdout).toContain('pipeline_job_failures_total{pipeline="video",stage="transcription"} 1\n');
    expect(r.stdout).toContain('pipeline_jobs_finished_total{pipeline="video",outcome="completed"} 1\n');
    expect(r.stdout).toContain('pipeline_queue_wait_seconds_count{pipeline="video"} 2\n');
    if (which('promtool') !== undefined || process.env.CI === 'true') {
      expect(promtoolCheckMetrics(r.stdout)).toEqual({ code: 0, findings: '' });
    }
  });
});

describe('examples/http-api.mjs', () => {
  it('runs against the built package: meter.http() records routes as templates, methods, statuses, and leaves out excluded paths', () => {
    const r = spawnSync(process.execPath, ['examples/http-api.mjs', '--once'], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const counts = r.stdout.split('\n').filter((l) => l.startsWith('http_server_request_duration_seconds_count{'));
    expect(counts.map((l) => l.replace(/^http_server_request_duration_seconds_count/, '')).sort()).toEqual(
      [
        '{method="GET",route="/items/:id",status_code="200"} 2',
        '{method="GET",route="/users/:user/orders/:order",status_code="200"} 1',
        '{method="POST",route="/items",status_code="503"} 1',
        '{method="GET",route="",status_code="404"} 1',
        '{method="_OTHER",route="",status_code="404"} 1',
      ].sort(),
    );
    expect(r.stdout).toContain('http_server_active_requests{method="GET"} 0\n');
    if (which('promtool') !== undefined || process.env.CI === 'true') {
      expect(promtoolCheckMetrics(r.stdout)).toEqual({ code: 0, findings: '' });
    }
  });
});

describe('examples/cluster.mjs', () => {
  it('a node:cluster primary shows the sums of what its two worker processes and a worker thread recorded', () => {
    const r = spawnSync(process.execPath, ['examples/cluster.mjs', '--once'], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('scraper_items_created_total{scraper="beatport",item_type="track",source="www.beatport.com"} 6\n');
    expect(r.stdout).toContain('scraper_runs_total{scraper="beatport",outcome="success"} 3\n');
    expect(r.stdout).toContain('pipemeter_cluster_workers 0\n');
    // Every worker has exited: their gauge values went with them, their counts stayed.
    expect(r.stdout).not.toMatch(/^crawl_frontier_urls /m);
    expect(r.stdout).toMatch(/^process_cpu_seconds_total /m);
    if (which('promtool') !== undefined || process.env.CI === 'true') {
      expect(promtoolCheckMetrics(r.stdout)).toEqual({ code: 0, findings: '' });
    }
  });
});
