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
