/**
 * Every chat command, in the order help lists them. Channels register these with their platform.
 * A new command is one file here exporting `defineCommand({ name, description, options, run })`,
 * plus its line in this list.
 */
import { close } from './close';
import { dataset } from './dataset';
import { explain } from './explain';
import { feature } from './feature';
import { reopen } from './reopen';
import { retry } from './retry';
import { review } from './review';
import { settings } from './settings';
import { stats } from './stats';
import type { CommandDefinition } from './types';
import { vote } from './vote';

export const allCommands: readonly CommandDefinition[] = [explain, vote, review, stats, feature, retry, settings, close, reopen, dataset];
