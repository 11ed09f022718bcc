/**
 * `defineCommand`: what each command file calls. It derives the channels' OptionSpec list from
 * the zod object once, and hands `run` options typed by that same object.
 */
import type { z } from 'zod';
import { DomainError } from '../src/core/errors';
import { optionSpecs } from './options';
import type { CommandDeclaration, CommandDefinition } from './types';

export function defineCommand<S extends z.ZodObject>(declaration: CommandDeclaration<S>): CommandDefinition {
  const { options: schema, run, ...rules } = declaration;
  return {
    ...rules,
    options: optionSpecs(declaration.name, schema),
    async run(ctx, options) {
      // The runner has checked `options` against the specs with the messages users see; this
      // parse types them, and catches what the specs cannot say (a number past 2^53).
      const typed = schema.safeParse(options);
      if (!typed.success) {
        const issue = typed.error.issues[0];
        throw new DomainError('invalid_option', `Option "${issue.path.join('.')}" of /${declaration.name} is not valid: ${issue.message}.`);
      }
      return run(ctx, typed.data);
    },
  };
}
