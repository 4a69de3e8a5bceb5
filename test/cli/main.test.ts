/** The command line as a user meets it: what no command, an unknown option and a missing value say, in one voice. */
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtCli } from '../helpers/tools.js';

let main = '';
beforeAll(() => {
  main = builtCli();
}, 70_000);

/** cli runs the built CLI (async, so the worker keeps answering vitest) and returns its exit code and output. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('pipemeter, the command line', () => {
  it('without a command is a usage error: the usage on stderr, exit 2; asked for, help is on stdout with exit 0', async () => {
    const none = await cli();
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^pipemeter: give a command\n\npipemeter \S+: .*\n\nUsage: pipemeter <command> \[options\]/);
    for (const ask of ['--help', 'help', '-h']) {
      const help = await cli(ask);
      expect(help.code).toBe(0);
      expect(help.stderr).toBe('');
      expect(help.stdout).toMatch(/^pipemeter \S+: .*\n\nUsage: pipemeter <command> \[options\]/);
    }
  });

  it.each([
    ['serve', ['--bogus']],
    ['demo', ['--bogus']],
    ['check', ['http://localhost:9464', '--bogus']],
    ['generate', ['--bogus']],
  ])('%s words an unknown option as every command does (exit 2)', async (command, args) => {
    const r = await cli(command, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`pipemeter ${command}: unknown option "--bogus"; run "pipemeter ${command} --help" for the options\n`);
  });

  it.each([
    ['demo', ['--speed'], '--speed needs a value, e.g. --speed 600'],
    ['demo', ['--scenario', '--speed', '600'], '--scenario needs a value, e.g. --scenario ProbeFailing'],
    ['check', ['http://localhost:9464', '--timeout'], '--timeout needs a value, e.g. --timeout 5s'],
    ['serve', ['--web.listen-address'], '--web.listen-address needs a value, e.g. --web.listen-address 0.0.0.0:9464'],
    ['serve', ['--config'], '--config needs a value, e.g. --config config/pipemeter.yaml'],
    ['generate', ['--out'], '--out needs a value, e.g. --out /tmp/ops'],
    ['serve', ['--web.listen-address=9464'], '--web.listen-address needs HOST:PORT, e.g. --web.listen-address=0.0.0.0:9464 or --web.listen-address=:9464, got "9464"'],
  ])('%s %j says what value to give, with an example (exit 2)', async (command, args, message) => {
    const r = await cli(command, ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`pipemeter ${command}: ${message}\n`);
  });
});
