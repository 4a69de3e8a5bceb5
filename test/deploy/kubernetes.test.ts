/**
 * deploy/kubernetes/: no cluster or container engine runs here, so the manifests are checked structurally (every
 * reference resolves, selectors match labels, ports agree), the core kinds against the schemas kubernetes-models
 * bundles, the ConfigMap's config by the sidecar's own validator, and the PrometheusRule is proven the same groups
 * as deploy/prometheus/rules and run through promtool.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, describe, expect, it } from 'vitest';
import { kubernetesDefaults as k } from '../../src/deploy/kubernetes.js';
import { defaults } from '../../src/deploy/settings.js';
import { loadConfig } from '../../src/sidecar/config.js';
import { describeWithTools, run } from '../helpers/tools.js';
import { readYaml } from './helpers.js';

const dir = 'deploy/kubernetes';
const kustomization = readYaml(`${dir}/kustomization.yaml`);
const manifests = Object.fromEntries(
  ['configmap', 'deployment', 'service', 'servicemonitor', 'podmonitor', 'prometheusrule'].map((n) => [n, readYaml(`${dir}/${n}.yaml`)]),
) as Record<string, any>;
const deployment = manifests.deployment;
const pod = deployment.spec.template.spec;
const sidecar = pod.containers.find((c: any) => c.name === 'pipemeter');
const podLabels: Record<string, string> = deployment.spec.template.metadata.labels;

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, v]) => labels[key] === v);
}

const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

describe('deploy/kubernetes manifests', () => {
  it.each(Object.entries(manifests))('%s has apiVersion, kind and a DNS-1123 metadata.name', (_file, m) => {
    expect(m.apiVersion).toMatch(/^(v1|apps\/v1|monitoring\.coreos\.com\/v1)$/);
    expect(m.kind).toMatch(/^[A-Z][A-Za-z]+$/);
    expect(m.metadata.name).toMatch(dns1123);
  });

  it('the kustomization lists files that exist, and every manifest but the PodMonitor alternative', () => {
    expect(kustomization.resources.sort()).toEqual(['configmap.yaml', 'deployment.yaml', 'prometheusrule.yaml', 'service.yaml', 'servicemonitor.yaml']);
  });

  it('the Deployment\'s selector matches its pod template\'s labels', () => {
    expect(matches(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
  });

  it('the Service selects the pods, and each port targets a named container port of the sidecar', () => {
    const svc = manifests.service;
    expect(matches(svc.spec.selector, podLabels)).toBe(true);
    const named = new Map(sidecar.ports.map((p: any) => [p.name, p.containerPort]));
    for (const p of svc.spec.ports) {
      expect(named.has(p.targetPort), `Service port ${p.name} targets ${p.targetPort}`).toBe(true);
      expect(p.port).toBe(named.get(p.targetPort));
    }
  });

  it('the ServiceMonitor selects the Service and scrapes its metrics port; its job label (the Service name) is the job the alerts select on', () => {
    const sm = manifests.servicemonitor;
    expect(matches(sm.spec.selector.matchLabels, manifests.service.metadata.labels)).toBe(true);
    expect(sm.spec.endpoints.map((e: any) => e.port)).toEqual(['metrics']);
    expect(manifests.service.spec.ports.map((p: any) => p.name)).toContain('metrics');
    expect(manifests.service.metadata.name).toBe(defaults.jobs.sidecar);
    expect(sm.spec.endpoints[0].interval).toBe(defaults.scrapeInterval);
  });

  it('the PodMonitor selects the pods, scrapes the sidecar\'s metrics port and sets the job the alerts select on', () => {
    const pm = manifests.podmonitor;
    expect(matches(pm.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(pm.spec.podMetricsEndpoints[0].port).toBe('metrics');
    expect(pm.spec.podMetricsEndpoints[0].relabelings).toEqual([{ targetLabel: 'job', replacement: defaults.jobs.sidecar }]);
  });

  it('probes hit /healthz and /readyz on the metrics port', () => {
    expect(sidecar.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(sidecar.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
  });

  it('every volume mount names a pod volume, and every ConfigMap and Secret a volume names exists', () => {
    const volumes = new Map(pod.volumes.map((v: any) => [v.name, v]));
    for (const c of pod.containers) for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name), `${c.name} mounts ${m.name}`).toBe(true);
    const configMaps = [manifests.configmap.metadata.name];
    const secrets = kustomization.secretGenerator.map((g: any) => g.name);
    for (const v of pod.volumes as any[]) {
      if (v.configMap !== undefined) expect(configMaps).toContain(v.configMap.name);
      if (v.secret !== undefined) expect(secrets).toContain(v.secret.secretName);
    }
  });

  it('the ConfigMap\'s config is valid for the sidecar, and every file it reads is mounted from the Secret or the state volume', () => {
    const text = manifests.configmap.data['pipemeter.yaml'];
    const config = loadConfig(text, 'configmap.yaml');
    const mount = sidecar.volumeMounts.find((m: any) => m.subPath === 'pipemeter.yaml');
    expect(sidecar.args).toEqual(['serve', '--config', mount.mountPath]);
    const secretMount = sidecar.volumeMounts.find((m: any) => m.name === 'pipemeter-secrets').mountPath;
    const keys = kustomization.secretGenerator[0].files.map((f: string) => f.split('=')[0]);
    const secretFiles = [config.listeners.ingest.tokenFile!, ...config.pipelines.map((p) => p.firecrawl!.secretFile!)];
    expect(secretFiles.map((f) => f.startsWith(`${secretMount}/`) && keys.includes(f.slice(secretMount.length + 1)))).toEqual(secretFiles.map(() => true));
    const stateMount = sidecar.volumeMounts.find((m: any) => m.name === 'pipemeter-state').mountPath;
    expect(config.state.file!.startsWith(`${stateMount}/`)).toBe(true);
    // The listeners the probes and the Service reach are the ones the config opens.
    const ports = Object.fromEntries(sidecar.ports.map((p: any) => [p.name, p.containerPort]));
    expect({ metrics: config.listeners.metrics.port, ingest: config.listeners.ingest.port }).toEqual(ports);
    // The worker reaches the sidecar over the pod's loopback, with the token from the same Secret.
    const worker = pod.containers.find((c: any) => c.name === k.app);
    const env = Object.fromEntries(worker.env.map((e: any) => [e.name, e.value]));
    expect(env.PIPEMETER_INGEST_URL).toBe(`http://127.0.0.1:${config.listeners.ingest.port}`);
    expect(env.PIPEMETER_TOKEN_FILE).toBe(config.listeners.ingest.tokenFile);
    expect(`${env.STATSD_HOST}:${env.STATSD_PORT}`).toBe(`${config.statsd.host}:${config.statsd.port}`);
  });

  it('the sidecar\'s Node heap is capped well inside its memory limit (V8 sizes its heap for the node, not the container)', () => {
    const options = sidecar.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value as string;
    const heapMiB = Number(/--max-old-space-size=(\d+)/.exec(options)?.[1]);
    const limitMiB = Number(/^(\d+)Mi$/.exec(sidecar.resources.limits.memory)?.[1]);
    // The rest of the limit holds the young generation, code and buffers: the flood measured them (bench/results/flood.md).
    expect(heapMiB).toBeGreaterThan(0);
    expect(heapMiB).toBeLessThanOrEqual(limitMiB * (2 / 3));
  });

  it('the sidecar runs unprivileged, and the pod\'s fsGroup lets it read the 0440 Secret files', () => {
    expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(pod.securityContext.fsGroup).toBe(sidecar.securityContext.runAsUser);
    expect(pod.volumes.find((v: any) => v.secret !== undefined).secret.defaultMode).toBe(0o440);
  });

  it('the PrometheusRule holds exactly the groups of deploy/prometheus/rules, in order', () => {
    const groups = [...readYaml('deploy/prometheus/rules/recording.yml').groups, ...readYaml('deploy/prometheus/rules/alerts.yml').groups];
    expect(manifests.prometheusrule.spec.groups).toEqual(groups);
    expect(groups.length).toBeGreaterThan(3);
  });

  it('commits no secret: the Secret is generated from local files that are not in deploy/', () => {
    for (const f of kustomization.secretGenerator[0].files as string[]) expect(f).toMatch(/^[a-z-]+=secrets\/[a-z-]+$/);
  });
});

/** Core kinds against the Kubernetes OpenAPI schemas kubernetes-models bundles; the Prometheus Operator kinds are checked structurally above. */
const schemas = { configmap: ConfigMap, deployment: Deployment, service: Service } as const;

describe('deploy/kubernetes against the Kubernetes schemas', () => {
  it.each(Object.keys(schemas))('%s is valid', (name) => {
    const Model = schemas[name as keyof typeof schemas];
    expect(() => new Model(manifests[name]).validate()).not.toThrow();
  });

  it.each([
    ['a port given as a string', (d: any) => (d.spec.template.spec.containers[1].ports[0].containerPort = '9464')],
    ['a probe without a handler', (d: any) => (d.spec.template.spec.containers[1].readinessProbe = { httpGet: { path: '/readyz' } })],
    ['a container without a name', (d: any) => delete d.spec.template.spec.containers[0].name],
  ])('and a Deployment with %s is not (the check can fail)', (_what, breakIt) => {
    const d = structuredClone(deployment);
    breakIt(d);
    expect(() => new Deployment(d).validate()).toThrow();
  });
});

describeWithTools(['promtool'], 'the PrometheusRule through promtool', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pipemeter-k8s-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('its spec.groups is a rule file promtool accepts', () => {
    const file = join(tmp, 'rules.yml');
    writeFileSync(file, JSON.stringify({ groups: manifests.prometheusrule.spec.groups }));
    const r = run('promtool', ['check', 'rules', file]);
    expect(r.stdout + r.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.code).toBe(0);
  });

  it('and promtool refuses a broken copy (the check can fail)', () => {
    const file = join(tmp, 'broken.yml');
    const groups = structuredClone(manifests.prometheusrule.spec.groups);
    groups[0].rules[0].expr = 'sum(';
    writeFileSync(file, JSON.stringify({ groups }));
    expect(run('promtool', ['check', 'rules', file]).code).not.toBe(0);
  });
});
