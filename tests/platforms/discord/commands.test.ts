import { describe, expect, it } from 'vitest';
import { allCommands } from '../../../commands';
import type { CommandDefinition } from '../../../commands/types';
import { coreNameOf, discordNameOf, slashCommandsJSON } from '../../../src/platforms/discord/commands';

type SlashJSON = { name: string; description: string; default_member_permissions: string | null; options: Array<Record<string, unknown>> };

describe('slash command JSON from commands/', () => {
  const json = slashCommandsJSON(allCommands) as unknown as SlashJSON[];

  it('keeps every name and description inside Discord limits', () => {
    for (const command of json) {
      expect(command.name).toMatch(/^[-_a-z0-9]{1,32}$/);
      expect(command.description.length).toBeGreaterThan(0);
      expect(command.description.length).toBeLessThanOrEqual(100);
      expect(command.options.length).toBeLessThanOrEqual(25);
      for (const option of command.options) {
        expect(String(option.name)).toMatch(/^[-_a-z0-9]{1,32}$/);
        expect(String(option.description).length).toBeLessThanOrEqual(100);
      }
    }
  });

  it('maps settings to /confab-settings behind Manage Server, and back', () => {
    expect(discordNameOf('settings')).toBe('confab-settings');
    expect(coreNameOf('confab-settings')).toBe('settings');
    expect(coreNameOf('explain')).toBe('explain');
    const admin = allCommands.filter((c) => c.adminOnly).map((c) => discordNameOf(c.name));
    for (const command of json) expect(command.default_member_permissions).toBe(admin.includes(command.name) ? '32' : null);
  });

  it('puts required options first and carries choices, ranges and lengths', () => {
    const definition: CommandDefinition = {
      name: 'demo',
      description: 'd'.repeat(150),
      options: [
        { name: 'note', description: 'optional text', type: 'string', maxLength: 9000 },
        { name: 'label', description: 'judgement', type: 'string', required: true, choices: ['faithful', 'confabulated'] },
        { name: 'count', description: 'how many', type: 'integer', min: 1, max: 8 },
        { name: 'ratio', description: 'share', type: 'number', min: 0, max: 1 },
        { name: 'strict', description: 'flag', type: 'boolean' },
      ],
      async run() {
        throw new Error('not run in this test');
      },
    };
    const [demo] = slashCommandsJSON([definition]) as unknown as SlashJSON[];
    expect(demo.description).toHaveLength(100);
    expect(demo.options.map((o) => o.name)).toEqual(['label', 'note', 'count', 'ratio', 'strict']);
    expect(demo.options[0]).toEqual({
      type: 3, name: 'label', description: 'judgement', required: true,
      choices: [{ name: 'faithful', value: 'faithful' }, { name: 'confabulated', value: 'confabulated' }],
    });
    expect(demo.options[1]).toMatchObject({ type: 3, max_length: 6000, required: false });
    expect(demo.options[2]).toMatchObject({ type: 4, min_value: 1, max_value: 8 });
    expect(demo.options[3]).toMatchObject({ type: 10, min_value: 0, max_value: 1 });
    expect(demo.options[4]).toEqual({ type: 5, name: 'strict', description: 'flag', required: false });
  });
});
