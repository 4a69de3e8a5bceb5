/** `pipemeter check`: not built yet (see the open issue). */
import type { Command } from '../command.js';

export const check: Command = {
  summary: 'not built yet',
  help: 'pipemeter check: not built yet.\n',
  async run(_argv, io) {
    io.stderr.write('pipemeter check: not built yet\n');
    return 2;
  },
};
