/**
 * docs/operations.md as a user follows it: its commands are the ones `npm start` prints and the e2e test runs
 * (localStack), its settings file loads, the secret files it creates end up 0600 (its own shell lines, run in a
 * temp dir), and it and the README cover every directory under deploy/.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localStack, renderCommand } from '../../src/deploy/local-stack.js';
import { loadSettings } from '../../src/deploy/settings-file.js';
import { defaults } from '../../src/deploy/settings.js';
import { readCommitted, repoRoot } from './helpers.js';

const doc = readCommitted('docs/operations.md');
const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, code: m[2]!, at: m.index }));
const block = (lang: string, marker: string) => {
  const b = blocks.find((x) => x.lang === lang && x.code.includes(marker));
  if (b === undefined) throw new Error(`docs/operations.md has no ${lang} block with ${marker}`);
  return b;
};

const dir = mkdtempSync(join(tmpdir(), 'pipemeter-ops-doc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** sh runs shell lines as the doc wrote them, with the given replacements, and fails with their output. */
function sh(lines: string[], replace: [string, string][]): void {
  const script = lines.map((l) => replace.reduce((s, [a, b]) => s.replaceAll(a, b), l)).join('\n');
  const r = spawnSync('sh', ['-euc', script], { encoding: 'utf8', timeout: 10_000 });
  expect(r.status, `${script}\n${r.stdout}${r.stderr}`).toBe(0);
}

const mode = (path: string) => statSync(path).mode & 0o777;

describe('docs/operations.md', () => {
  it('shows the Prometheus and Alertmanager commands `npm start` prints and the e2e test runs, verbatim', () => {
    const stack = localStack(defaults);
    expect(block('sh', 'prometheus --config.file=deploy/').code).toContain(renderCommand(stack.prometheus));
    expect(block('sh', 'prometheus-alertmanager --config.file=deploy/').code).toContain(renderCommand(stack.alertmanager));
  });

  describe('seeing an alert within minutes', () => {
    const yaml = block('yaml', '# fast.yaml');
    const fast = loadSettings(yaml.code, 'fast.yaml');
    const generate = block('sh', '--settings fast.yaml');
    const run = block('sh', 'prometheus-alertmanager --config.file=/tmp/ops/');

    it('says where fast.yaml goes, and it loads over the defaults', () => {
      expect(doc).toMatch(/Save this as `fast\.yaml`/);
      expect(fast.scrapeInterval).toBe('5s');
      expect(fast.alertmanager.slackApiUrlFile).toBe('/tmp/ops/slack_webhook_url');
    });

    it('runs Prometheus and Alertmanager on the copy with localStack\'s commands', () => {
      const stack = localStack(fast, { root: '/tmp/ops', prometheusData: '/tmp/ops/data/prometheus', alertmanagerData: '/tmp/ops/data/alertmanager' });
      expect(run.code).toContain(renderCommand(stack.prometheus));
      expect(run.code).toContain(renderCommand(stack.alertmanager));
    });

    it('creates the webhook URL file fast.yaml names, mode 0600, before Alertmanager starts', () => {
      expect(generate.at).toBeLessThan(run.at);
      const lines = generate.code.split('\n').filter((l) => l.includes(fast.alertmanager.slackApiUrlFile));
      expect(lines.length).toBeGreaterThan(0);
      const ops = join(dir, 'ops');
      sh([`mkdir -p ${ops}`, ...lines], [['/tmp/ops', ops]]);
      const file = join(ops, 'slack_webhook_url');
      expect(mode(file).toString(8)).toBe('600');
      expect(readFileSync(file, 'utf8')).toMatch(/^http:\/\/127\.0\.0\.1:8099\/slack\n$/);
    });
  });

  it('leaves /etc/alertmanager/slack_webhook_url mode 0600 through the receiver step too', () => {
    const file = '/etc/alertmanager/slack_webhook_url';
    const create = block('sh', 'sudo install -d -m 0755 /etc/alertmanager').code.split('\n').filter((l) => l.includes('/etc/alertmanager'));
    const receiver = block('sh', `echo http://127.0.0.1:8099/slack > ${file}`).code.split('\n').filter((l) => l.startsWith('echo '));
    const etc = join(dir, 'etc-alertmanager');
    // The paste (cat from the terminal) becomes an echo; sudo goes, as the test owns its temp dir.
    const pasted = create.map((l) => (l.startsWith('cat > ') ? `echo https://hooks.slack.com/services/T0/B0/x > ${file}` : l));
    sh(pasted, [['sudo ', ''], ['/etc/alertmanager', etc]]);
    expect(mode(join(etc, 'slack_webhook_url')).toString(8)).toBe('600');
    sh(receiver, [['/etc/alertmanager', etc]]);
    expect(mode(join(etc, 'slack_webhook_url')).toString(8)).toBe('600');
    expect(readFileSync(join(etc, 'slack_webhook_url'), 'utf8')).toBe('http://127.0.0.1:8099/slack\n');
  });

  it('and the README\'s table cover every directory under deploy/', () => {
    const readme = readCommitted('README.md');
    for (const d of readdirSync(join(repoRoot, 'deploy'), { withFileTypes: true }).filter((e) => e.isDirectory())) {
      expect(readme, `README.md: deploy/${d.name}/`).toContain(`| \`deploy/${d.name}/\` |`);
      expect(doc, `docs/operations.md: deploy/${d.name}/`).toContain(`deploy/${d.name}/`);
    }
  });
});
