/** Every chat command, in the order help lists them. Channels register these with their platform. */
import { close } from './close';
import { dataset } from './dataset';
import { digest } from './digest';
import { explain } from './explain';
import { feature } from './feature';
import { reopen } from './reopen';
import { retry } from './retry';
import { review } from './review';
import { settings } from './settings';
import { stats } from './stats';
import type { CommandDefinition } from './types';
import { vote } from './vote';

// Each command types its own options; invokeCommand validates raw input against the declared
// OptionSpecs before `run` sees it, which is what makes the widening to ParsedOptions safe.
export const allCommands: CommandDefinition[] = [explain, vote, review, stats, feature, retry, settings, close, reopen, dataset, digest] as unknown as CommandDefinition[];
