/**
 * The commands that run Prometheus and Alertmanager on the generated files on one host, written once: `pipemeter
 * demo` prints them, docs/operations.md shows them (a test compares), and the e2e test runs them.
 */
import type { Settings } from './settings.js';

/** One command: the Debian binary and its arguments. */
export interface StackCommand {
  bin: string;
  args: string[];
}

export interface LocalStackOptions {
  /** The directory that holds `deploy/` (default: relative paths, from a checkout's root). */
  root?: string;
  /** Prometheus's TSDB directory (default /tmp/pipemeter-prometheus). */
  prometheusData?: string;
  /** Alertmanager's storage directory (default /tmp/pipemeter-alertmanager). */
  alertmanagerData?: string;
  /** host:port Prometheus listens on (default 127.0.0.1:9090, where the Grafana datasource reads). */
  prometheusListen?: string;
  /** host:port Alertmanager listens on (default 127.0.0.1:9093, where prometheus.yml sends alerts). */
  alertmanagerListen?: string;
}

/**
 * localStack returns the Prometheus and Alertmanager commands for the generated files. Prometheus keeps exemplars
 * (the job ids on the duration histograms); Alertmanager runs alone (`--cluster.listen-address=` turns clustering
 * off) and links back to itself at `alertmanager.url`, the address dashboards link to.
 */
export function localStack(s: Pick<Settings, 'alertmanager'>, o: LocalStackOptions = {}): { prometheus: StackCommand; alertmanager: StackCommand } {
  const at = (path: string) => (o.root === undefined ? path : `${o.root.replace(/\/+$/, '')}/${path}`);
  return {
    prometheus: {
      bin: 'prometheus',
      args: [
        `--config.file=${at('deploy/prometheus/prometheus.yml')}`,
        `--storage.tsdb.path=${o.prometheusData ?? '/tmp/pipemeter-prometheus'}`,
        '--enable-feature=exemplar-storage',
        `--web.listen-address=${o.prometheusListen ?? '127.0.0.1:9090'}`,
      ],
    },
    alertmanager: {
      bin: 'prometheus-alertmanager',
      args: [
        `--config.file=${at('deploy/alertmanager/alertmanager.yml')}`,
        `--storage.path=${o.alertmanagerData ?? '/tmp/pipemeter-alertmanager'}`,
        `--web.listen-address=${o.alertmanagerListen ?? '127.0.0.1:9093'}`,
        `--web.external-url=${s.alertmanager.url}`,
        '--cluster.listen-address=',
      ],
    },
  };
}

/** renderCommand writes a command for a shell: the binary and its first argument, then one argument per continued line. */
export function renderCommand(c: StackCommand, indent = ''): string {
  const [first, ...rest] = c.args;
  return [`${indent}${c.bin}${first === undefined ? '' : ` ${first}`}`, ...rest.map((a) => `${indent}  ${a}`)].join(' \\\n');
}
