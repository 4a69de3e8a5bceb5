/**
 * `pip install ./python`, as the README says, offline, into a fresh venv (Debian's python3 with its site packages for
 * prometheus_client): the installed package imports from outside the checkout, with the version of package.json.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PYTHON, describeWithPython, repoRoot } from './helpers.js';

describeWithPython(['prometheus_client', 'venv', 'pip', 'setuptools', 'wheel'], [], 'pip install ./python into a fresh venv', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pipemeter-pip-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs offline, and imports from outside the checkout with the version of package.json', () => {
    // A copy of python/ without its tests: pip builds in the source tree (build/, *.egg-info), which must not be the checkout.
    cpSync(join(repoRoot, 'python'), join(dir, 'src/python'), { recursive: true, filter: (p) => !/[\\/](tests|build|__pycache__|[^\\/]*\.egg-info)$/.test(p) });
    const venv = join(dir, 'venv');
    const mk = spawnSync(PYTHON, ['-m', 'venv', '--system-site-packages', venv], { encoding: 'utf8', timeout: 60_000 });
    expect(mk.status, mk.stderr).toBe(0);
    const pip = spawnSync(join(venv, 'bin/pip'), ['install', '--no-index', '--no-build-isolation', '--disable-pip-version-check', './python'], {
      cwd: join(dir, 'src'),
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, PIP_NO_CACHE_DIR: '1', PYTHONPATH: '' },
    });
    expect(pip.status, pip.stdout + pip.stderr).toBe(0);
    const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    expect(pip.stdout).toContain(`Successfully installed pipemeter-${version}`);
    const script = [
      'import pipemeter, pipemeter.scrapy, pipemeter.celery',
      'm = pipemeter.create_meter(service="installed")',
      'm.scraper("beatport").item_created("track", "https://www.beatport.com/track/x/1")',
      'text = m.metrics().decode()',
      'assert \'scraper_items_created_total{item_type="track",scraper="beatport",source="www.beatport.com"} 1.0\' in text, text',
      'print(pipemeter.__file__); print(pipemeter.__version__)',
    ].join('\n');
    const run = spawnSync(join(venv, 'bin/python'), ['-c', script], { cwd: dir, encoding: 'utf8', timeout: 30_000, env: { ...process.env, PYTHONPATH: '' } });
    expect(run.status, run.stderr).toBe(0);
    const [file, installed] = run.stdout.trim().split('\n');
    expect(file).toBe(join(venv, 'lib', (/python3\.\d+/.exec(file!) ?? [''])[0], 'site-packages/pipemeter/__init__.py'));
    expect(installed).toBe(version);
  }, 180_000);
});
