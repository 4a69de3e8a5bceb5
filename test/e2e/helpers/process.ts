/** Real binaries for the e2e suite: spawned in their own process group, logs kept for failure messages, always killed. */
import { type ChildProcess, spawn } from 'node:child_process';
export { freePort } from '../../helpers/tools.js';

export interface Tool {
  name: string;
  child: ChildProcess;
  /** The last 64 KiB of stdout and stderr, for assertion messages. */
  log(): string;
  /** stop sends SIGTERM to the process group, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Tool>();

// A worker that dies without running afterAll (a crash, an unhandled rejection) still takes its binaries with it.
process.once('exit', () => {
  for (const t of live) killGroup(t.child, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** startTool spawns a binary detached into its own process group, so stop() reaches anything it forks. */
export function startTool(name: string, cmd: string, args: readonly string[], cwd?: string): Tool {
  const child = spawn(cmd, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let buf = '';
  const keep = (b: Buffer) => {
    buf += b.toString();
    if (buf.length > 65_536) buf = buf.slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', (err) => {
      buf += `\n${name}: ${err.message}`;
      resolve();
    });
  });
  const tool: Tool = {
    name,
    child,
    log: () => buf,
    async stop(graceMs = 5_000) {
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      live.delete(tool);
    },
  };
  live.add(tool);
  return tool;
}
