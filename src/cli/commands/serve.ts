/** `pipemeter serve`: not built yet (see the open issue). */
import type { Command } from '../command.js';

export const serve: Command = {
  summary: 'not built yet',
  help: 'pipemeter serve: not built yet.\n',
  async run(_argv, io) {
    io.stderr.write('pipemeter serve: not built yet\n');
    return 2;
  },
};
