/**
 * Assertions that a rendered Discord payload respects every limit in platforms.md. Shared by
 * the renderer unit tests and the end-to-end tests (which check what actually went on the wire).
 */
import { expect } from 'vitest';
import { LIMITS } from '../../../src/platforms/discord/message';

interface WireEmbed {
  title?: string;
  description?: string;
  footer?: { text: string };
  author?: { name: string };
  fields?: Array<{ name: string; value: string }>;
}

/** Check a message body as discord.js serialises it (snake_case) or as render.ts returns it. */
export function expectWithinDiscordLimits(payload: object): void {
  const body = payload as {
    content?: string | null;
    embeds?: WireEmbed[];
    components?: Array<{ components: Array<{ custom_id?: string; label?: string }> }>;
    allowed_mentions?: unknown;
    allowedMentions?: unknown;
  };
  expect(body.allowed_mentions ?? body.allowedMentions).toEqual({ parse: [] });
  if (body.content) expect(body.content.length).toBeLessThanOrEqual(LIMITS.content);
  const embeds = body.embeds ?? [];
  expect(embeds.length).toBeLessThanOrEqual(LIMITS.embedsPerMessage);
  let total = 0;
  for (const e of embeds) {
    expect(e.title?.length ?? 0).toBeLessThanOrEqual(LIMITS.embedTitle);
    expect(e.description?.length ?? 0).toBeLessThanOrEqual(LIMITS.embedDescription);
    expect(e.footer?.text.length ?? 0).toBeLessThanOrEqual(LIMITS.footer);
    expect((e.fields ?? []).length).toBeLessThanOrEqual(LIMITS.embedFields);
    total += (e.title?.length ?? 0) + (e.description?.length ?? 0) + (e.footer?.text.length ?? 0) + (e.author?.name.length ?? 0);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeGreaterThan(0);
      expect(f.value.length).toBeGreaterThan(0);
      expect(f.name.length).toBeLessThanOrEqual(LIMITS.fieldName);
      expect(f.value.length).toBeLessThanOrEqual(LIMITS.fieldValue);
      total += f.name.length + f.value.length;
    }
  }
  expect(total).toBeLessThanOrEqual(LIMITS.embedsTotal);
  const rows = body.components ?? [];
  expect(rows.length).toBeLessThanOrEqual(LIMITS.actionRows);
  for (const row of rows) {
    expect(row.components.length).toBeLessThanOrEqual(LIMITS.buttonsPerRow);
    for (const c of row.components) {
      if (c.custom_id !== undefined) {
        expect(c.custom_id.length).toBeGreaterThan(0);
        expect(c.custom_id.length).toBeLessThanOrEqual(LIMITS.customId);
      }
      if (c.label !== undefined) expect(c.label.length).toBeLessThanOrEqual(LIMITS.buttonLabel);
    }
  }
}

/** Text that must never be parsed as a mention or markup once escaped. */
export const HOSTILE_TEXT =
  '@everyone @here <@&123456789012345678> <@987654321098765432> <#111> **bold** __u__ ~~s~~ ||spoiler|| ' +
  '```js\nprocess.exit()\n``` [click](https://evil.example) > quote\n# Heading\n-# sub </explain:1> <t:0:R>';
