/** The Python package's own tests (python/tests, pytest) run as part of npm test, with Debian's python3. */
import { expect, it } from 'vitest';
import { describeWithPython, runPython } from './helpers.js';

describeWithPython(['prometheus_client', 'pytest', 'celery'], [], 'python/tests (pytest)', () => {
  it('pass, with none skipped', async () => {
    const r = await runPython(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-rs', 'python/tests'], { timeoutMs: 120_000 });
    const summary = r.stdout.trim().split('\n').pop() ?? '';
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Passed, with no test skipped, failed or in error (warnings from Celery's own imports are allowed).
    expect(summary).toMatch(/^\d+ passed(, \d+ warnings?)? in /);
  }, 130_000);
});
