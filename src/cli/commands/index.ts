/** The command table. */
import type { Command } from '../command.js';
import { check } from './check.js';
import { demo } from './demo.js';
import { generate } from './generate.js';
import { serve } from './serve.js';

export const commands: Record<string, Command> = { serve, demo, check, generate };
