/**
 * Runs every benchmark in its own process (a fresh heap each) and writes bench/RESULTS.md from their reports.
 * `--assemble` runs none: it writes bench/RESULTS.md from the reports already in bench/results/ (after running one
 * benchmark alone, e.g. `npm run bench:flood`, which takes most of an hour); each report says when and where it ran.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { machine } from './lib.js';

const benches = ['cold-start', 'hot-path', 'exposition', 'memory', 'sidecar-load', 'dashboards', 'http', 'flood', 'cluster', 'native-histograms'] as const;
/** The flood sends 15 000 000 names through HTTP: it runs for most of an hour on the shared 2-core box. */
const timeoutMs: Partial<Record<(typeof benches)[number], number>> = { flood: 3 * 3600_000 };
const assemble = process.argv.includes('--assemble');
const started = Date.now();
const sections: string[] = [];
for (const name of benches) {
  if (assemble) {
    sections.push(readFileSync(new URL(`../../bench/results/${name}.md`, import.meta.url), 'utf8').replace(/^# /, '## '));
    continue;
  }
  const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url));
  process.stdout.write(`bench: ${name}...\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', file, '--write'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMs[name] ?? 600_000 });
  if (r.status !== 0) {
    process.stderr.write(`bench: ${name} failed (exit ${r.status ?? r.signal})\n`);
    process.exitCode = 1;
    continue;
  }
  const report = readFileSync(new URL(`../../bench/results/${name}.md`, import.meta.url), 'utf8');
  sections.push(report.replace(/^# /, '## '));
}
// The Python package's benchmark, with Debian's python3 (prometheus_client 0.16) against the sidecar built in dist/.
process.stdout.write('bench: python...\n');
const py = assemble ? { status: 0, signal: null } : spawnSync('/usr/bin/python3', [fileURLToPath(new URL('../../bench/python.py', import.meta.url)), '--write'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 600_000 });
if (py.status === 0) sections.push(readFileSync(new URL('../../bench/results/python.md', import.meta.url), 'utf8').replace(/^# /, '## '));
else {
  process.stderr.write(`bench: python failed (exit ${py.status ?? py.signal})\n`);
  process.exitCode = 1;
}
const results = `# Benchmark results

${assemble ? 'Assembled by \`npm run bench -- --assemble\` from the reports in \`bench/results/\`, each run on its own (see its first line).' : `Written by \`npm run bench\` (${((Date.now() - started) / 60_000).toFixed(1)} min) on ${machine()}.`}
Every target is a ratio against a baseline measured in the same run on the same machine, except the
sidecar's events/s; absolute figures are shown, never asserted (the machine is shared and noisy).
Each benchmark's own report is in \`bench/results/\`; the sources are beside this file.

${sections.join('\n')}`;
writeFileSync(new URL('../../bench/RESULTS.md', import.meta.url), results);
process.stdout.write('bench: wrote bench/RESULTS.md\n');
