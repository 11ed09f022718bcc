/**
 * The Slack channel's connection, acknowledgements, input errors, permissions and Web API
 * failures, end to end in both modes: a real Bolt App against the local Slack fake, and the real
 * core on PGlite with no inference backend (analyses stay queued: nothing here needs a result).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allCommands } from '../../../commands';
import { invokeCommand } from '../../../commands/invoke';
import { startSlackApp } from '../../../src/platforms/slack/channel';
import type { Mode } from '../../fakes/slack/server';
import { blockText, startHarness, USERS, type Harness } from './harness';

describe.each<Mode>(['http', 'socket'])('Slack channel (%s mode): connection and input errors', (mode) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ backend: null, mode });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('starts with auth.test through SLACK_API_URL, and in Socket Mode opens the connection there too', async () => {
    const auth = await h.fake.waitFor((c) => c.method === 'auth.test');
    expect(auth.error).toBeUndefined();
    if (mode === 'socket') {
      const open = await h.fake.waitFor((c) => c.method === 'apps.connections.open');
      expect(open.error).toBeUndefined();
      expect(h.fake.connectedSockets).toBe(1);
      expect(h.channel.port).toBeUndefined();
    } else {
      expect(h.fake.calls.some((c) => c.method === 'apps.connections.open')).toBe(false);
      expect(h.channel.port).toBeGreaterThan(0);
    }
  });

  it('/confab help and a bare /confab answer with the usage, privately, in the acknowledgement', async () => {
    for (const text of ['help', '']) {
      const delivery = await h.fake.slash(text, USERS.bo);
      expect(delivery.status).toBe(200);
      expect(delivery.ack.response_type).toBe('ephemeral');
      const shown = blockText(delivery.ack.blocks);
      expect(shown).toContain('/confab explain');
      expect(shown).toContain('--position N');
      expect(shown).toContain('`/confab vote [--claims TEXT] <explanation> faithful|confabulated|unsure [<note>]`');
    }
    // One subcommand whose limits follow the model comes just after the ack: it may ask the worker.
    const from = h.fake.ephemerals.length;
    await h.fake.slash('help explain', USERS.bo);
    const one = await h.fake.waitForEphemeral(USERS.bo.id, (e) => blockText(e.body.blocks).includes('samples:'), from);
    expect(blockText(one.body.blocks)).toMatch(/samples: NLA explanations to generate[^\n]*1 to 8/);
    // No worker here: the declared range.
    expect(blockText(one.body.blocks)).toMatch(/position: [^\n]*-4096 to 4095/);
  });

  it('an unknown subcommand or a malformed argument gets the usage, privately', async () => {
    const unknown = await h.fake.slash('explian The fox', USERS.bo);
    expect(unknown.ack.response_type).toBe('ephemeral');
    expect(blockText(unknown.ack.blocks)).toContain('There is no /confab explian subcommand.');
    expect(blockText(unknown.ack.blocks)).toContain('/confab explain');

    const badOption = await h.fake.slash('explain --colour red The fox', USERS.bo);
    expect(blockText(badOption.ack.blocks)).toContain('/confab explain has no option --colour');
    expect(blockText(badOption.ack.blocks)).toContain('Usage: `/confab explain');

    const unbalanced = await h.fake.slash('explain --token "fox The fox', USERS.bo);
    expect(blockText(unbalanced.ack.blocks)).toContain('A quoted value is missing its closing "');
  });

  it('a bad value is refused by the command layer with the same message as the terminal, privately', async () => {
    const from = h.fake.ephemerals.length;
    const delivery = await h.fake.slash('explain --samples nine The fox', USERS.bo);
    // Acknowledged empty: an HTTP 200 with no body, or an envelope ack with no payload.
    expect(delivery.ack).toEqual(mode === 'http' ? '' : {});
    const reply = await h.fake.waitForEphemeral(USERS.bo.id, () => true, from);
    expect(reply.via).toBe('response_url');
    expect(reply.body.response_type).toBe('ephemeral');
    expect(blockText(reply.body.blocks)).toContain('Samples must be a whole number; got "nine".');
  });

  it('an oversized prompt gets a clear private error, and nothing is posted in the channel', async () => {
    const before = h.fake.channelMessages().length;
    const from = h.fake.ephemerals.length;
    await h.fake.slash(`explain ${'x'.repeat(2400)}`, USERS.bo);
    const reply = await h.fake.waitForEphemeral(USERS.bo.id, () => true, from);
    expect(blockText(reply.body.blocks)).toContain('Prompt is 2,400 characters; the limit is 2,000.');
    expect(h.fake.channelMessages().length).toBe(before);
  });

  it('a non-admin is refused /confab settings (users.info); an admin may change them', async () => {
    let from = h.fake.ephemerals.length;
    await h.fake.slash('settings votes_to_close=5', USERS.bo);
    const refused = await h.fake.waitForEphemeral(USERS.bo.id, () => true, from);
    expect(blockText(refused.body.blocks)).toMatch(/admins only/);
    expect(h.fake.calls.some((c) => c.method === 'users.info' && c.args.user === USERS.bo.id)).toBe(true);

    for (const value of [5, 3]) {
      from = h.fake.ephemerals.length;
      await h.fake.slash(`settings votes_to_close=${value}`, USERS.ana);
      const changed = await h.fake.waitForEphemeral(USERS.ana.id, () => true, from);
      expect(blockText(changed.body.blocks)).toContain('Settings updated');
      expect(blockText(changed.body.blocks)).toContain(`✏️ \`votes\u200b_\u200bto\u200b_\u200bclose\` ${value}`);
    }
  });

  it('/confab stats answers in the channel through the response_url', async () => {
    const before = h.fake.channelMessages().length;
    await h.fake.slash('stats', USERS.cy);
    await h.fake.waitFor((c) => c.method === 'response_url' && c.args.response_type === 'in_channel');
    expect(h.fake.channelMessages().length).toBe(before + 1);
    expect(blockText(h.fake.channelMessages().at(-1)!.blocks)).toContain('Stats');
  });

  it('a 429 on chat.postMessage is waited out (Retry-After) and the message still arrives', async () => {
    h.fake.rateLimit('chat.postMessage', 1, 1);
    const from = h.fake.calls.length;
    await h.fake.slash('explain Rate limited prompt', USERS.ana);
    const limited = await h.fake.waitFor((c) => c.method === 'chat.postMessage' && c.status === 429, 10_000, from);
    const posted = await h.fake.waitFor((c) => c.method === 'chat.postMessage' && c.status === 200, 15_000, from);
    expect(posted.error).toBeUndefined();
    expect(posted.at - limited.at).toBeGreaterThanOrEqual(1_000);
    expect(blockText(posted.args.blocks)).toContain('Rate limited prompt');
    expect(posted.args.link_names).toBeUndefined();
  });

  it('a button this version does not know gets a clear private answer, not silence', async () => {
    const from = h.fake.ephemerals.length;
    const stale = [{ type: 'actions', block_id: 'old', elements: [{ type: 'button', action_id: 'vote-12-faithful', text: { type: 'plain_text', text: 'Faithful' } }] }];
    const delivery = await h.fake.click({ ephemeralBlocks: stale }, 'vote-12-faithful', USERS.cy);
    expect(delivery.status).toBe(200);
    const reply = await h.fake.waitForEphemeral(USERS.cy.id, () => true, from);
    expect(blockText(reply.body.blocks)).toContain('This button is from an older version of Confab and no longer works.');
  });

  it('a wrong bot token stops the start with a message that names SLACK_BOT_TOKEN', async () => {
    const start = startSlackApp({ services: h.services, config: { ...h.slack, botToken: 'xoxb-wrong' }, commands: allCommands, invoke: invokeCommand, log: { debug() {}, info() {}, warn() {}, error() {} } });
    await expect(start).rejects.toThrow(/Slack refused SLACK_BOT_TOKEN \(auth\.test: invalid_auth\)/);
    // An operator's mistake: `confab start` prints it as one line, without a stack trace.
    await expect(start).rejects.toMatchObject({ name: 'SlackConfigError' });
  });
});

describe('Slack channel (HTTP mode): signed requests', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ backend: null, mode: 'http' });
  });
  afterAll(async () => {
    await h?.close();
  });
  const form = (text: string) =>
    new URLSearchParams({ team_id: h.fake.teamId, channel_id: h.fake.channelId, user_id: USERS.bo.id, user_name: 'bo', command: '/confab', text, response_url: `${h.fake.base}/response/none`, trigger_id: '1.x' }).toString();

  it('a bad signature gets 401 and changes nothing', async () => {
    const before = h.fake.calls.length;
    const answer = await h.fake.postToBot(form('explain Forged prompt'), { secret: 'not-the-secret' });
    expect(answer.status).toBe(401);
    const unsigned = await h.fake.postToBot(form('explain Forged prompt'), { signature: 'v0=' + '0'.repeat(64) });
    expect(unsigned.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.fake.calls.slice(before)).toEqual([]);
  });

  it('a timestamp more than 5 minutes old gets 401, even correctly signed', async () => {
    const before = h.fake.calls.length;
    const answer = await h.fake.postToBot(form('explain Replayed prompt'), { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(answer.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.fake.calls.slice(before)).toEqual([]);
  });

  it('accepts application/x-www-form-urlencoded; charset=utf-8', async () => {
    const answer = await h.fake.postToBot(form('help'), { contentType: 'application/x-www-form-urlencoded; charset=utf-8' });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response_type).toBe('ephemeral');
  });
});
