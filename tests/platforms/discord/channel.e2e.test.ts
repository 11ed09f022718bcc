/**
 * The Discord channel end to end, without a working model: a real discord.js Client against the
 * local Discord-compatible server, the real core on PGlite, and an inference client whose worker
 * is down. Covers login and registration, input errors, the worker-down path and admin checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slashCommandsJSON } from '../../../src/platforms/discord';
import { allCommands } from '../../../commands';
import { deadWorkerBackend, MEMBERS, startHarness, type Harness } from './harness';
import { expectWithinDiscordLimits } from './limits';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ backend: deadWorkerBackend() });
});
afterAll(async () => {
  await h?.close();
});

describe('Discord channel (worker down)', () => {
  it('1. logs in with Guilds only and registers the commands generated from commands/', async () => {
    const identify = h.fake.gatewayReceived.find((p) => p.op === 2);
    expect(identify.d.intents).toBe(1); // GatewayIntentBits.Guilds
    const put = await h.fake.waitForRequest((r) => r.method === 'PUT' && r.path.endsWith('/commands'));
    expect(put.path).toBe(`/applications/${h.fake.applicationId}/guilds/${h.fake.guildId}/commands`);
    expect(put.headers.authorization).toBe(`Bot ${h.fake.token}`);
    const names = (put.body as Array<{ name: string }>).map((c) => c.name);
    expect(names).toEqual(slashCommandsJSON(allCommands).map((c) => c.name));
    expect(names).toContain('explain');
    expect(names).toContain('confab-settings');
    const explain = (put.body as any[]).find((c) => c.name === 'explain');
    expect(explain.options[0]).toMatchObject({ name: 'prompt', type: 3, required: true });
    expect(explain.options.find((o: any) => o.name === 'samples')).toMatchObject({ type: 4, min_value: 1, max_value: 8 });
    const settings = (put.body as any[]).find((c) => c.name === 'confab-settings');
    expect(settings.default_member_permissions).toBe('32');
  });

  it('6. an oversized prompt gets a clear private error, and no public message remains', async () => {
    const interaction = h.fake.slash('explain', { prompt: 'x'.repeat(2400) }, MEMBERS.bo);
    const callback = await h.fake.waitForCallback(interaction);
    expect(callback.body.type).toBe(5);
    const followUp = await h.fake.waitForWebhook(interaction, 'POST');
    expect(followUp.body.flags & 64).toBe(64);
    expect(followUp.body.embeds[0].description).toBe('Prompt is 2,400 characters; the limit is 2,000.');
    expectWithinDiscordLimits(followUp.body);
    await h.fake.waitForWebhook(interaction, 'DELETE');
  });

  it('7. with the worker down, the analysis fails with a clear reason and a Retry button', async () => {
    const interaction = h.fake.slash('explain', { prompt: 'The quick brown fox' }, MEMBERS.bo);
    await h.fake.waitForCallback(interaction);
    const pending = await h.fake.waitForWebhook(interaction, 'PATCH');
    expect(pending.body.embeds[0].title).toMatch(/^Analysis #\d+ · (queued|running)$/);
    const final = await h.fake.waitForWebhook(interaction, 'PATCH', 20_000, 1);
    expectWithinDiscordLimits(final.body);
    expect(final.body.embeds[0].title).toMatch(/· failed$/);
    const reason = final.body.embeds[0].fields.find((f: any) => f.name === 'Failed').value;
    expect(reason).toMatch(/retr/i);
    const retry = final.body.components[0].components[0];
    expect(retry.custom_id).toMatch(/^r:\d+$/);

    // Pressing Retry queues it again (and, with the worker still down, it fails again, visibly).
    const message = h.fake.channelMessages().find((m) => m.interactionId === interaction.id)!;
    const click = h.fake.button(retry.custom_id, message.id, MEMBERS.bo);
    const ack = await h.fake.waitForCallback(click);
    expect([5, 6]).toContain(ack.body.type);
    const again = await h.fake.waitForWebhook(click, 'PATCH', 20_000);
    expect(again.body.embeds[0].title).toMatch(/^Analysis #\d+/);
  });

  it('10. a member without Manage Server is refused /confab-settings', async () => {
    const interaction = h.fake.slash('confab-settings', { votes_to_close: 5 }, MEMBERS.bo);
    const callback = await h.fake.waitForCallback(interaction);
    expect(callback.body).toEqual({ type: 5, data: { flags: 64 } });
    const reply = await h.fake.waitForWebhook(interaction, 'PATCH');
    expect(reply.body.embeds[0].description).toMatch(/admins only/);
    expectWithinDiscordLimits(reply.body);
  });

  it('an admin can change settings', async () => {
    const interaction = h.fake.slash('confab-settings', { votes_to_close: 5 }, MEMBERS.ana);
    const reply = await h.fake.waitForWebhook(interaction, 'PATCH');
    expect(JSON.stringify(reply.body.embeds)).toMatch(/votes_to_close/);
    expect(reply.body.embeds[0].title).toBe('Settings updated');
  });

  it('answers /stats and an unknown explanation vote without "did not respond"', async () => {
    const stats = h.fake.slash('stats', {}, MEMBERS.bo);
    const reply = await h.fake.waitForWebhook(stats, 'PATCH');
    expect(reply.body.embeds[0].title).toMatch(/^Stats/);
    const vote = h.fake.slash('vote', { explanation: 999999, label: 'faithful' }, MEMBERS.bo);
    const err = await h.fake.waitForWebhook(vote, 'PATCH');
    expect(err.body.embeds[0].title).toBe('Sorry, that did not work');
    expect(err.body.embeds[0].description).toMatch(/999999/);
  });

  it('survives a 429 on the interaction callback by retrying after Retry-After', async () => {
    h.fake.rateLimit('POST', /^\/interactions\/\d+\/[^/]+\/callback$/, { times: 1, retryAfterMs: 300 });
    const interaction = h.fake.slash('stats', {}, MEMBERS.cy);
    const reply = await h.fake.waitForWebhook(interaction, 'PATCH');
    expect(reply.status).toBe(200);
    const callbacks = h.fake.requests.filter((r) => r.path.startsWith(`/interactions/${interaction.id}/`));
    expect(callbacks.map((r) => r.status)).toEqual([429, 204]);
    expect(callbacks[1].at - callbacks[0].at).toBeGreaterThanOrEqual(250);
  });
});
