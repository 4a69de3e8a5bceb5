/**
 * pipemeter's architecture, as rules (`npm run lint:deps`, run by `npm test`). Layers, bottom-up; a layer imports
 * only the layers below it and itself:
 *
 *   catalog     the families, as plain data                    imports nothing of ours
 *   shared      errors, units, the YAML problem reporter       imports nothing of ours
 *   meter       Meter, instruments, scraper/pipeline handles   catalog, shared
 *   exposition  render, parse, negotiate, serve; createMeter   meter, catalog, shared
 *   sidecar     pipemeter/sidecar: ingest, webhooks, StatsD    exposition, meter, catalog, shared
 *   deploy      pipemeter/deploy: the asset generators         catalog, shared (never the sidecar)
 *   check       `pipemeter check`'s fetch and analysis         exposition, meter, catalog, shared
 *   demo        the simulated fleet                            sidecar and below
 *   cli         argument parsing only                          everything
 *
 * The root entry (src/index.ts) is the library a worker imports: it reaches no sidecar, deploy, check, demo or cli
 * module, and no npm package but prom-client. ARCHITECTURE.md draws the same picture and says where to change what.
 */
const layer = (name, allowed) => ({
  name: `${name}-imports-only-${allowed.length === 0 ? 'itself' : allowed.join('-')}`,
  comment: `${name}/ may import ${allowed.length === 0 ? 'nothing of ours' : allowed.join(', ')} (and itself); see ARCHITECTURE.md`,
  severity: 'error',
  from: { path: `^src/${name}/` },
  to: { path: '^src/', pathNot: [`^src/${name}/`, ...allowed.map((a) => `^src/${a}/`)] },
});

const library = ['catalog', 'shared', 'meter', 'exposition'];

module.exports = {
  forbidden: [
    layer('catalog', []),
    layer('shared', []),
    layer('meter', ['catalog', 'shared']),
    layer('exposition', ['meter', 'catalog', 'shared']),
    layer('sidecar', library),
    layer('deploy', ['catalog', 'shared']),
    layer('check', library),
    layer('demo', [...library, 'sidecar']),
    {
      name: 'root-entry-is-the-library',
      comment: 'src/index.ts is what every worker imports: it reaches only the library layers, never sidecar, deploy, check, demo or cli',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: '^src/(sidecar|deploy|check|demo|cli)/', reachable: true },
    },
    {
      name: 'root-entry-loads-only-prom-client',
      comment: 'the root entry reaches no npm package but prom-client: express, undici, ioredis and yaml belong to the subpaths',
      severity: 'error',
      from: { path: '^src/index\\.ts$' },
      to: { path: 'node_modules/', pathNot: 'node_modules/prom-client/', reachable: true },
    },
    {
      name: 'only-the-cli-imports-the-cli',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, between layers or within one',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-orphans',
      comment: 'a module nothing imports is dead code (entries and the CLI main aside)',
      severity: 'error',
      from: { orphan: true, path: '^src/', pathNot: ['^src/index\\.ts$', '^src/(sidecar|deploy)/index\\.ts$', '^src/cli/main\\.ts$'] },
      to: {},
    },
    {
      name: 'no-dev-dependencies-in-src',
      comment: 'shipped code imports runtime dependencies only',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
