/**
 * The Discord channel end to end: a real discord.js Client against the local Discord-compatible
 * server, the real core on PGlite, and the embedded worker on the reference stack (which a test
 * can take down, or slow past a token's life). The numbered tests are the scenarios.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCommands } from '../../../commands';
import { slashCommandsJSON } from '../../../src/platforms/discord/commands';
import { startDiscordChannel } from '../../../src/platforms/discord/start';
import type { RecordedRequest } from '../../fakes/discord/server';
import { buttonIds, HAS_REFERENCE_STACK, MEMBERS, referenceBackend, startHarness, type GatedBackend, type Harness } from './harness';
import { expectWithinDiscordLimits, HOSTILE_TEXT } from './limits';

let h: Harness;
let worker: GatedBackend;
beforeAll(async () => {
  if (!HAS_REFERENCE_STACK) return;
  worker = await referenceBackend();
  h = await startHarness({ backend: worker });
});
afterAll(async () => {
  await h?.close();
});

/** Run /explain and wait for the analysis to replace the pending reply. */
async function explain(prompt: string, options: Record<string, string | number> = {}) {
  const interaction = h.fake.slash('explain', { prompt, ...options }, MEMBERS.ana);
  const callback = await h.fake.waitForCallback(interaction);
  const pending = await h.fake.waitForWebhook(interaction, 'PATCH');
  const final = await h.fake.waitForWebhook(interaction, 'PATCH', 30_000, 1);
  const message = h.fake.channelMessages().find((m) => m.interactionId === interaction.id)!;
  return { interaction, callback, pending, final, message };
}

function description(r: RecordedRequest, embed = 0): string {
  return r.body.embeds[embed].description;
}

describe.skipIf(!HAS_REFERENCE_STACK)('Discord channel: connection, input errors, worker down, permissions', () => {
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

  it('a wrong token stops the start with a message that names DISCORD_TOKEN', async () => {
    await expect(startDiscordChannel(h.services, { ...h.discord, token: 'wrong' })).rejects.toThrow(/Discord refused DISCORD_TOKEN/);
    expect(h.fake.requests.some((r) => r.path === '/gateway/bot' && r.status === 401)).toBe(true);
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

  it('7. with the worker down, the analysis fails with a clear reason; Retry runs it once the worker is back', async () => {
    worker.down = true;
    const interaction = h.fake.slash('explain', { prompt: 'The quick brown fox' }, MEMBERS.bo);
    await h.fake.waitForCallback(interaction);
    const pending = await h.fake.waitForWebhook(interaction, 'PATCH');
    expect(pending.body.embeds[0].title).toMatch(/^Analysis #\d+ · (queued|running)$/);
    const final = await h.fake.waitForWebhook(interaction, 'PATCH', 30_000, 1);
    worker.down = false;
    expectWithinDiscordLimits(final.body);
    expect(final.body.embeds[0].title).toMatch(/· failed$/);
    const reason = final.body.embeds[0].fields.find((f: any) => f.name === 'Failed').value;
    expect(reason).toMatch(/unavailable[\s\S]*retr/i);
    const retry = final.body.components[0].components[0];
    expect(retry).toMatchObject({ custom_id: expect.stringMatching(/^r:\d+$/), label: 'Retry' });

    // The same message turns back into the analysis (a deferred update, then edits of it).
    const message = h.fake.channelMessages().find((m) => m.interactionId === interaction.id)!;
    const click = h.fake.button(retry.custom_id, message.id, MEMBERS.bo);
    expect((await h.fake.waitForCallback(click)).body).toEqual({ type: 6 });
    const done = await h.fake.waitForWebhook(click, 'PATCH', 30_000, 1);
    expectWithinDiscordLimits(done.body);
    expect(done.body.embeds[0].title).toBe(final.body.embeds[0].title.replace(' · failed', ''));
    const shown = h.fake.messages.get(message.id)!;
    expect(shown.embeds[0].title).toBe(done.body.embeds[0].title);
    expect(buttonIds(shown)[0]).toContainEqual(expect.stringMatching(/^v:\d+:f$/));
    expect(buttonIds(shown).flat()).not.toContainEqual(retry.custom_id);

    // A second press on a stale Retry (the analysis is no longer failed) answers privately.
    const stale = h.fake.button(retry.custom_id, message.id, MEMBERS.cy);
    const privately = await h.fake.waitForWebhook(stale, 'POST');
    expect(privately.body.flags & 64).toBe(64);
    expect(h.fake.messages.get(message.id)!.embeds[0].title).toBe(done.body.embeds[0].title);
  });

  it('10. a member without Manage Server is refused /confab-settings; an admin may change them', async () => {
    const refused = h.fake.slash('confab-settings', { votes_to_close: 5 }, MEMBERS.bo);
    expect((await h.fake.waitForCallback(refused)).body).toEqual({ type: 5, data: { flags: 64 } });
    const reply = await h.fake.waitForWebhook(refused, 'PATCH');
    expect(reply.body.embeds[0].description).toMatch(/admins only/);
    expectWithinDiscordLimits(reply.body);

    for (const value of [5, 3]) {
      const admin = h.fake.slash('confab-settings', { votes_to_close: value }, MEMBERS.ana);
      const changed = await h.fake.waitForWebhook(admin, 'PATCH');
      expect(changed.body.embeds[0].title).toBe('Settings updated');
      expect(changed.body.embeds[0].fields.find((f: any) => f.name === '✏️ votes\\_to\\_close').value).toBe(String(value));
    }
  });

  it('reconnects and resumes after the gateway connection drops', async () => {
    const resumed = new Promise((resolve) => h.fake.once('resume', resolve));
    h.fake.dropGatewayConnections();
    await resumed;
    expect(h.fake.connectedClients).toBe(1);
    const stats = h.fake.slash('stats', {}, MEMBERS.cy);
    expect((await h.fake.waitForWebhook(stats)).body.embeds[0].title).toMatch(/^Stats/);
  });

  it('answers an unknown explanation id with a clear private error', async () => {
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

describe.skipIf(!HAS_REFERENCE_STACK)('Discord review loop', () => {
  let analysisMessageId: string;
  let firstExplanation: number;

  it('2. /explain defers, then edits the reply with features, explanations and buttons', async () => {
    const { callback, pending, final, message } = await explain('The quick brown fox jumps', { samples: 2 });
    expect(callback.body).toEqual({ type: 5, data: { flags: 0 } });
    expect(pending.body.embeds[0].title).toMatch(/^Analysis #\d+ · (queued|running)$/);
    expectWithinDiscordLimits(final.body);
    const [header, features, ...explanations] = final.body.embeds;
    expect(header.title).toMatch(/^Analysis #\d+$/);
    expect(header.description).toContain('**⟦');
    expect(features.title).toMatch(/^SAE features at ⟦/);
    expect(features.description.split('\n').length).toBeGreaterThanOrEqual(1);
    expect(features.fields.map((f: any) => f.name)).toEqual(['L0', 'Explained variance', 'fve\\_nrm']);
    expect(explanations).toHaveLength(2);
    expect(explanations[0].title).toMatch(/^Explanation 1 · /);
    expect(explanations[0].fields[0].value).toMatch(/^cos -?\d\.\d\d · mse\\_nrm \d\.\d\d · fve\\_nrm -?\d\.\d\d$/);
    const ids = buttonIds(message);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toEqual([expect.stringMatching(/^v:\d+:f$/), expect.stringMatching(/^v:\d+:c$/), expect.stringMatching(/^v:\d+:u$/), expect.stringMatching(/^n:\d+$/)]);
    analysisMessageId = message.id;
    firstExplanation = Number(ids[0][0].split(':')[1]);
  });

  it('3. three members vote, the item closes, and only then the tally appears publicly', async () => {
    const voters = [MEMBERS.bo, MEMBERS.cy, MEMBERS.dee];
    for (const [i, member] of voters.entries()) {
      const click = h.fake.button(`v:${firstExplanation}:f`, analysisMessageId, member);
      const ack = await h.fake.waitForCallback(click);
      expect(ack.body).toEqual({ type: 5, data: { flags: 64 } });
      const reply = await h.fake.waitForWebhook(click, 'PATCH');
      expectWithinDiscordLimits(reply.body);
      expect(description(reply)).toContain(`Your vote on #${firstExplanation}: **Faithful**.`);
      expect(description(reply)).toContain(`Current tally: ✅ Faithful ${i + 1} · ❌ Confabulated 0`);
      const publicMessage = h.fake.messages.get(analysisMessageId)!;
      const tallyShown = JSON.stringify(publicMessage.embeds).includes('Votes (closed)');
      if (i < 2) expect(tallyShown).toBe(false);
    }
    const closing = await h.fake.waitForRequest((r) => r.method === 'PATCH' && r.path.endsWith(`/messages/${analysisMessageId}`));
    expectWithinDiscordLimits(closing.body);
    const closedEmbed = closing.body.embeds.find((e: any) => e.footer?.text === `explanation #${firstExplanation}`);
    expect(closedEmbed.fields.find((f: any) => f.name === 'Votes (closed)').value).toContain('✅ Faithful 3');
    const row = closing.body.components.find((r: any) => r.components[0].custom_id === `v:${firstExplanation}:f`);
    expect(row.components.every((c: any) => c.disabled)).toBe(true);
  });

  it('3b. the closed tally still reaches the message when the channel route is refused', async () => {
    const { message } = await explain('Closing without channel access');
    const [[faithful]] = buttonIds(message);
    h.fake.denyChannelEdits = true;
    try {
      let last = h.fake.button(faithful, message.id, MEMBERS.bo);
      for (const member of [MEMBERS.cy, MEMBERS.dee]) {
        await h.fake.waitForWebhook(last);
        last = h.fake.button(faithful, message.id, member);
      }
      const edit = await h.fake.waitForRequest((r) => r.method === 'PATCH' && r.path === `/webhooks/${h.fake.applicationId}/${last.token}/messages/${message.id}`);
      expect(edit.status).toBe(200);
      expect(JSON.stringify(h.fake.messages.get(message.id)!.embeds)).toContain('✅ Faithful 3');
    } finally {
      h.fake.denyChannelEdits = false;
    }
  });

  it('3c. an item closed from elsewhere (/vote) also reveals its tally on the public message', async () => {
    const { message } = await explain('Closed from a slash command');
    const [[faithful]] = buttonIds(message);
    const explanationId = Number(faithful.split(':')[1]);
    for (const member of [MEMBERS.bo, MEMBERS.cy]) await h.fake.waitForWebhook(h.fake.button(faithful, message.id, member));
    expect(JSON.stringify(h.fake.messages.get(message.id)!.embeds)).not.toContain('Votes (closed)');
    const vote = h.fake.slash('vote', { explanation: explanationId, label: 'faithful' }, MEMBERS.dee);
    expect(description(await h.fake.waitForWebhook(vote))).toContain('closed this item');
    const edit = await h.fake.waitForRequest((r) => r.method === 'PATCH' && r.path === `/channels/${h.fake.channelId}/messages/${message.id}`);
    expectWithinDiscordLimits(edit.body);
    expect(JSON.stringify(h.fake.messages.get(message.id)!.embeds)).toContain('✅ Faithful 3');
  });

  it('4. a duplicate click is idempotent, a changed vote is recorded, and the note modal marks claims', async () => {
    const { message } = await explain('Dime con quién andas');
    const [[faithful, confabulated, , note]] = buttonIds(message);
    const explanationId = Number(faithful.split(':')[1]);

    const first = h.fake.button(faithful, message.id, MEMBERS.bo);
    expect(description(await h.fake.waitForWebhook(first))).toContain('**Faithful**');
    const duplicate = h.fake.button(faithful, message.id, MEMBERS.bo);
    expect(description(await h.fake.waitForWebhook(duplicate))).toContain('You already voted **Faithful**');
    const changed = h.fake.button(confabulated, message.id, MEMBERS.bo);
    expect(description(await h.fake.waitForWebhook(changed))).toContain('changed from **Faithful** to **Confabulated**');

    const open = h.fake.button(note, message.id, MEMBERS.cy);
    const modal = await h.fake.waitForCallback(open);
    expect(modal.body.type).toBe(9);
    expect(modal.body.data.custom_id).toBe(`m:${explanationId}`);
    const claimsSelect = modal.body.data.components.find((c: any) => c.component.custom_id === 'claims');
    expect(claimsSelect.type).toBe(18);
    expect(claimsSelect.component.options.length).toBeGreaterThanOrEqual(1);
    const claimNumbers = claimsSelect.component.options.map((o: any) => o.value);

    const submit = h.fake.modalSubmit(`m:${explanationId}`, { label: ['confabulated'], note: 'It is Spanish, not jargon. @everyone', claims: [claimNumbers[0]] }, MEMBERS.cy, message.id);
    expect((await h.fake.waitForCallback(submit)).body).toEqual({ type: 5, data: { flags: 64 } });
    const ack = await h.fake.waitForWebhook(submit);
    expectWithinDiscordLimits(ack.body);
    expect(description(ack)).toContain('**Confabulated**');
    const fields = ack.body.embeds[0].fields;
    expect(fields.find((f: any) => f.name === 'Your note').value).toBe('It is Spanish, not jargon. @\u200beveryone');
    expect(fields.find((f: any) => f.name === 'Claims you marked wrong').value).toMatch(/^• /);
  });

  it('5. a hostile prompt is shown escaped and pings nobody', async () => {
    const { final } = await explain(HOSTILE_TEXT);
    expectWithinDiscordLimits(final.body);
    const prompt = description(final);
    expect(prompt).not.toMatch(/(?<!\\)<@/);
    expect(prompt).not.toMatch(/@everyone|@here/);
    expect(prompt).toContain('\\`\\`\\`js');
    expect(prompt).toContain('\\[click\\]\\(https\\://evil.example\\)');
    for (const r of h.fake.requests.filter((q) => q.body && typeof q.body === 'object' && 'embeds' in q.body)) {
      expect(r.body.allowed_mentions).toEqual({ parse: [] });
    }
  });

  it('8. buttons posted before a bot restart still work after it', async () => {
    const { message } = await explain('Restart me');
    await h.restartChannel();
    expect(h.fake.connectedClients).toBe(1);
    const [[, , unsure]] = buttonIds(message);
    const click = h.fake.button(unsure, message.id, MEMBERS.dee);
    const reply = await h.fake.waitForWebhook(click);
    expect(description(reply)).toContain('**Unsure**');
  });

  it('9. a result whose interaction expired arrives as a new channel message', async () => {
    let release!: () => void;
    worker.gate = new Promise<void>((r) => (release = r));
    const interaction = h.fake.slash('explain', { prompt: 'Slow analysis' }, MEMBERS.ana);
    await h.fake.waitForWebhook(interaction, 'PATCH');
    h.fake.expireToken(interaction.token);
    const before = h.fake.channelMessages().length;
    worker.gate = null;
    release();
    const posted = await h.fake.waitForRequest((r) => r.method === 'POST' && r.path === `/channels/${h.fake.channelId}/messages` && r.body.embeds?.[0]?.title?.startsWith('Analysis'));
    expect(posted.status).toBe(200);
    expectWithinDiscordLimits(posted.body);
    expect(posted.body.embeds[0].description).toContain('Slow');
    expect(posted.body.embeds.length).toBeGreaterThanOrEqual(3);
    expect(h.fake.channelMessages().length).toBe(before + 1);
    const failedEdit = h.fake.requests.filter((r) => r.method === 'PATCH' && r.path.includes(interaction.token));
    expect(failedEdit.map((r) => r.status)).toEqual([200, 404]);
  });

  it('9b. a result ready after the 15-minute token life is posted anew without trying the edit', async () => {
    // Created 14 min 45 s ago: the defer is still accepted, but the token is too close to its end.
    const interaction = h.fake.slash('explain', { prompt: 'Almost fifteen minutes' }, MEMBERS.ana, 14 * 60_000 + 45_000);
    expect((await h.fake.waitForCallback(interaction)).status).toBe(204);
    const posted = await h.fake.waitForRequest(
      (r) => r.method === 'POST' && r.path === `/channels/${h.fake.channelId}/messages` && /Almost/.test(r.body.embeds?.[0]?.description ?? ''),
      30_000,
    );
    expectWithinDiscordLimits(posted.body);
    expect(posted.body.embeds[0].title).toMatch(/^Analysis #\d+$/);
    const edits = h.fake.requests.filter((r) => r.method === 'PATCH' && r.path.includes(interaction.token));
    expect(edits).toHaveLength(1); // only the pending view, shown while the token was valid
  });

  it('/review is private and carries the same vote controls', async () => {
    const interaction = h.fake.slash('review', {}, MEMBERS.ana);
    expect((await h.fake.waitForCallback(interaction)).body).toEqual({ type: 5, data: { flags: 64 } });
    const reply = await h.fake.waitForWebhook(interaction);
    expectWithinDiscordLimits(reply.body);
    expect(reply.body.components[0].components.map((c: any) => c.custom_id)).toEqual([
      expect.stringMatching(/^v:\d+:f$/), expect.stringMatching(/^v:\d+:c$/), expect.stringMatching(/^v:\d+:u$/), expect.stringMatching(/^n:\d+$/),
    ]);
  });

  it('/feature and /stats render from the real core', async () => {
    const stats = h.fake.slash('stats', {}, MEMBERS.bo);
    const statsReply = await h.fake.waitForWebhook(stats);
    expect(statsReply.body.embeds[0].fields.find((f: any) => f.name === 'Closed items').value).toBe('3'); // closed in 3, 3b and 3c
    const feature = h.fake.slash('feature', { index: 10 }, MEMBERS.bo);
    const featureReply = await h.fake.waitForWebhook(feature);
    expectWithinDiscordLimits(featureReply.body);
    expect(featureReply.body.embeds[0].title).toBe('Feature 10');
  });

  it("an admin's /close reveals the tally on the public message, as a closing vote does", async () => {
    const { message } = await explain('Closed by an admin');
    const [[faithful]] = buttonIds(message);
    const explanationId = Number(faithful.split(':')[1]);
    await h.fake.waitForWebhook(h.fake.button(faithful, message.id, MEMBERS.bo));
    expect(JSON.stringify(h.fake.messages.get(message.id)!.embeds)).not.toContain('Votes (closed)');
    const close = h.fake.slash('close', { explanation: explanationId }, MEMBERS.ana);
    expect(description(await h.fake.waitForWebhook(close))).toContain('is closed');
    const edit = await h.fake.waitForRequest((r) => r.method === 'PATCH' && r.path === `/channels/${h.fake.channelId}/messages/${message.id}`);
    expectWithinDiscordLimits(edit.body);
    expect(JSON.stringify(h.fake.messages.get(message.id)!.embeds)).toContain('✅ Faithful 1');

    // /reopen takes the closed tally back and makes the item's buttons work again.
    const rowOf = () => h.fake.messages.get(message.id)!.components.find((r: any) => r.components[0].custom_id === faithful);
    expect(rowOf().components.every((c: any) => c.disabled)).toBe(true);
    const reopen = h.fake.slash('reopen', { explanation: explanationId }, MEMBERS.ana);
    expect(description(await h.fake.waitForWebhook(reopen))).toContain('open again');
    const reopened = await h.fake.waitForRequest(
      (r) => r.method === 'PATCH' && r.path === `/channels/${h.fake.channelId}/messages/${message.id}` && !JSON.stringify(r.body).includes('Votes (closed)'),
    );
    expectWithinDiscordLimits(reopened.body);
    expect(rowOf().components.some((c: any) => c.disabled)).toBe(false);
    const embeds = JSON.stringify(h.fake.messages.get(message.id)!.embeds);
    expect(embeds).not.toContain('Votes (closed)');
    expect(embeds).toContain('Votes so far');
  });

  it('3d. after a restart, an item closed from elsewhere (/vote) still reveals its tally on the public message', async () => {
    const { message } = await explain('Closed from a slash command after a restart');
    const [[faithful]] = buttonIds(message);
    const explanationId = Number(faithful.split(':')[1]);
    for (const member of [MEMBERS.bo, MEMBERS.cy]) await h.fake.waitForWebhook(h.fake.button(faithful, message.id, member));
    // The new process knows the message only from the database.
    await h.restartChannel();
    const vote = h.fake.slash('vote', { explanation: explanationId, label: 'faithful' }, MEMBERS.dee);
    expect(description(await h.fake.waitForWebhook(vote))).toContain('closed this item');
    const edit = await h.fake.waitForRequest((r) => r.method === 'PATCH' && r.path === `/channels/${h.fake.channelId}/messages/${message.id}`);
    expectWithinDiscordLimits(edit.body);
    expect(JSON.stringify(h.fake.messages.get(message.id)!.embeds)).toContain('✅ Faithful 3');
  });
});

describe.skipIf(!HAS_REFERENCE_STACK)('Discord /dataset', () => {
  it('attaches the file when it fits attachment_size_limit, else says where it was written', async (ctx) => {
    const { allCommands } = await import('../../../commands');
    // The dataset command comes with the labels work; until it is registered there is nothing to drive.
    if (!allCommands.some((c) => c.name === 'dataset')) return ctx.skip();
    const small = h.fake.slash('dataset', {}, MEMBERS.ana);
    const attached = await h.fake.waitForWebhook(small, 'PATCH', 60_000);
    expectWithinDiscordLimits(attached.body);
    expect(attached.files).toHaveLength(1);
    expect(attached.body.embeds[0].description).toMatch(/Attached: /);

    h.fake.attachmentSizeLimit = 1;
    try {
      const big = h.fake.slash('dataset', {}, MEMBERS.ana);
      const described = await h.fake.waitForWebhook(big, 'PATCH', 60_000);
      expect(described.files).toHaveLength(0);
      expect(described.body.embeds[0].description).toMatch(/accepts attachments up to 1 bytes\. It was written to /);
    } finally {
      h.fake.attachmentSizeLimit = 10 * 1024 * 1024;
    }
  });
});
