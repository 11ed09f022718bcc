/** A command's zod declaration: the OptionSpecs channels get from it, typed options, and mistakes in it. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineCommand } from '../../commands/define';
import { findCommand, parseOptions } from '../../commands/invoke';
import { optionSpecs } from '../../commands/options';
import type { CommandContext } from '../../commands/types';
import type { Actor } from '../../src/core/actor';
import { DomainError } from '../../src/core/errors';
import type { Services } from '../../src/core/services';

const actor: Actor = { platform: 'terminal', workspaceId: 'local', channelId: 'main', userId: 'ada', displayName: 'ada', isAdmin: false };
// These commands read nothing from the services, so none are started.
const ctx: CommandContext = { actor, services: {} as Partial<Services> as Services };

describe('defineCommand', () => {
  const demo = defineCommand({
    name: 'demo',
    description: 'A command with one option of every kind.',
    options: z.object({
      id: z.int().min(1).meta({ description: 'An id', position: 1 }),
      label: z.enum(['faithful', 'confabulated']).meta({ description: 'A label', position: 2 }),
      note: z.string().meta({ description: 'Text', maxLength: 10, position: 3 }).optional(),
      share: z.number().min(0).max(1).meta({ description: 'A share' }).optional(),
      all: z.boolean().meta({ description: 'A switch' }).optional(),
      role: z.string().meta({ description: 'A role', option: 'role' }).optional(),
      count: z.int().meta({ description: 'Unbounded' }).optional(),
    }),
    async run(_ctx, options) {
      // Typed by the schema: `label` is the enum, `note` a string or undefined.
      const label: 'faithful' | 'confabulated' = options.label;
      return { view: { kind: 'message', lines: [`${options.id} ${label} ${options.note ?? '-'} ${options.all ?? '-'}`] } };
    },
  });

  it('derives the OptionSpecs channels read, in declaration order', () => {
    expect(demo.options).toEqual([
      { name: 'id', description: 'An id', type: 'integer', required: true, min: 1, position: 1 },
      { name: 'label', description: 'A label', type: 'string', required: true, choices: ['faithful', 'confabulated'], position: 2 },
      { name: 'note', description: 'Text', type: 'string', maxLength: 10, position: 3 },
      { name: 'share', description: 'A share', type: 'number', min: 0, max: 1 },
      { name: 'all', description: 'A switch', type: 'boolean' },
      { name: 'role', description: 'A role', type: 'role' },
      // z.int()'s own safe-integer bounds are not shown as limits.
      { name: 'count', description: 'Unbounded', type: 'integer' },
    ]);
  });

  it('runs with the options the runner checked, typed by the schema', async () => {
    const options = parseOptions(demo, { id: '#7', label: 'Faithful', all: 'yes' });
    expect((await demo.run(ctx, options)).view).toEqual({ kind: 'message', lines: ['7 faithful - true'] });
  });

  it('refuses, with the option named, a value the specs let through but the schema cannot hold', async () => {
    const close = findCommand('close')!;
    const options = parseOptions(close, { explanation: '100000000000000000000' });
    const refused = close.run(ctx, options);
    await expect(refused).rejects.toBeInstanceOf(DomainError);
    await expect(refused).rejects.toMatchObject({ code: 'invalid_option', message: expect.stringMatching(/^Option "explanation" of \/close is not valid: /) });
  });

  it('stops a declaration that channels could not take, naming the command and option', () => {
    expect(() => optionSpecs('demo', z.object({ note: z.string() }))).toThrow('/demo option "note" needs a description: .meta({ description })');
    expect(() => optionSpecs('demo', z.object({ note: z.string().max(5).meta({ description: 'Text' }) }))).toThrow(
      '/demo option "note": give its length limit as .meta({ maxLength }), counted in characters, not as .min()/.max()',
    );
    expect(() => optionSpecs('demo', z.object({ ids: z.array(z.int()).meta({ description: 'Ids' }) }))).toThrow(
      '/demo option "ids" has a type channels cannot take; use a string, number, integer, boolean or enum',
    );
  });

  it('keeps descriptions and positions given on the optional wrapper too', () => {
    expect(optionSpecs('demo', z.object({ n: z.int().optional().meta({ description: 'N', position: 1 }) }))).toEqual([
      { name: 'n', description: 'N', type: 'integer', position: 1 },
    ]);
  });
});
