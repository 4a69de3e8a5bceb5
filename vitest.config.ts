import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: the e2e and process tests spend most of their time waiting on real Prometheus, Alertmanager
    // and child processes, not on the CPU.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
