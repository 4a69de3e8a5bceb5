/** `pipemeter demo`: not built yet (see the open issue). */
import type { Command } from '../command.js';

export const demo: Command = {
  summary: 'not built yet',
  help: 'pipemeter demo: not built yet.\n',
  async run(_argv, io) {
    io.stderr.write('pipemeter demo: not built yet\n');
    return 2;
  },
};
