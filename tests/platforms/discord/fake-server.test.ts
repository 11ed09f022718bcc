/**
 * The local Discord-compatible server, checked with discord.js's own REST client: the wire
 * details other tests rely on (multipart bodies, 429 headers, expired tokens, auth).
 */
import { DiscordAPIError, REST, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../../fakes/discord/server';

let fake: FakeDiscord;
let rest: REST;
beforeAll(async () => {
  fake = await FakeDiscord.start();
  rest = new REST({ api: fake.apiBase, retries: 0 }).setToken(fake.token);
});
afterAll(async () => {
  await fake.close();
});

describe('FakeDiscord', () => {
  it('parses multipart messages with files as discord.js sends them', async () => {
    const sent = (await rest.post(Routes.channelMessages(fake.channelId), {
      body: { content: 'export', allowed_mentions: { parse: [] } },
      files: [{ name: 'dataset.jsonl', data: Buffer.from('{"a":1}\n'.repeat(100)), contentType: 'application/jsonl' }],
    })) as { id: string; attachments: Array<{ filename: string; size: number }> };
    const recorded = fake.requests.at(-1)!;
    expect(recorded.headers['content-type']).toMatch(/^multipart\/form-data/);
    expect(recorded.body).toMatchObject({ content: 'export', allowed_mentions: { parse: [] } });
    expect(recorded.files).toEqual([{ field: 'files[0]', filename: 'dataset.jsonl', size: 800, contentType: 'application/jsonl' }]);
    expect(sent.attachments).toEqual([expect.objectContaining({ filename: 'dataset.jsonl', size: 800 })]);
  });

  it('answers 429 with the headers @discordjs/rest reads', async () => {
    fake.rateLimit('GET', /^\/gateway\/bot$/, { times: 1, retryAfterMs: 1500 });
    const limited = await fetch(`${fake.apiBase}/v10/gateway/bot`, { headers: { authorization: `Bot ${fake.token}` } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(limited.headers.get('x-ratelimit-reset-after')).toBe('1.5');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect(await limited.json()).toEqual({ message: 'You are being rate limited.', retry_after: 1.5, global: false, code: 0 });
    expect((await fetch(`${fake.apiBase}/v10/gateway/bot`, { headers: { authorization: `Bot ${fake.token}` } })).status).toBe(200);
  });

  it('refuses a wrong bot token and an expired interaction token', async () => {
    const wrong = new REST({ api: fake.apiBase, retries: 0 }).setToken('wrong');
    await expect(wrong.get(Routes.gatewayBot())).rejects.toMatchObject({ status: 401 });
    const expired = await rest
      .patch(Routes.webhookMessage(fake.applicationId, 'no-such-token', '@original'), { body: { content: 'x' }, auth: false })
      .catch((e: unknown) => e);
    expect(expired).toBeInstanceOf(DiscordAPIError);
    expect((expired as DiscordAPIError).code).toBe(10015);
  });

  it('records routes it does not implement as 404s a test can see', async () => {
    await expect(rest.get('/users/@me')).rejects.toMatchObject({ status: 404 });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', path: '/users/@me', status: 404 });
  });
});
