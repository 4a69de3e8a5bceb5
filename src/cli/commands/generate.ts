/** `pipemeter generate`: not built yet (see the open issue). */
import type { Command } from '../command.js';

export const generate: Command = {
  summary: 'not built yet',
  help: 'pipemeter generate: not built yet.\n',
  async run(_argv, io) {
    io.stderr.write('pipemeter generate: not built yet\n');
    return 2;
  },
};
