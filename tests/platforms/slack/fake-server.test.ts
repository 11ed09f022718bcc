/** The Slack fake refuses what Slack refuses, so a passing end-to-end test means Slack would accept it. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeSlack } from '../../fakes/slack/server';

let fake: FakeSlack;
beforeAll(async () => {
  fake = await FakeSlack.start();
});
afterAll(async () => {
  await fake.close();
});

async function call(method: string, args: Record<string, unknown>, token = fake.botToken) {
  const form = new URLSearchParams(Object.entries(args).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const response = await fetch(`${fake.apiUrl}${method}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  return { status: response.status, body: (await response.json()) as any, retryAfter: response.headers.get('retry-after') };
}

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (text: string, action_id = 'a', value = 'v') => ({ type: 'button', text: { type: 'plain_text', text }, action_id, value });

describe('Slack fake', () => {
  it('refuses payloads past each limit, as Slack does', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ blocks: Array.from({ length: 51 }, () => section('x')) }, 'invalid_blocks'],
      [{ blocks: [section('x'.repeat(3001))] }, 'invalid_blocks'],
      [{ text: 'x'.repeat(40_001) }, 'msg_too_long'],
      [{ blocks: [{ type: 'actions', elements: [button('x'.repeat(76))] }] }, 'invalid_blocks'],
      [{ blocks: [{ type: 'actions', elements: [button('x', 'a'.repeat(256))] }] }, 'invalid_blocks'],
      [{ blocks: [{ type: 'actions', elements: [button('x', 'a', 'v'.repeat(2001))] }] }, 'invalid_blocks'],
      [{ blocks: [{ type: 'actions', elements: Array.from({ length: 26 }, (_, i) => button('x', `a${i}`)) }] }, 'invalid_blocks'],
      [{ blocks: [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }] }, 'invalid_blocks'],
      [{ blocks: Array.from({ length: 5 }, () => section('x'.repeat(2900))) }, 'msg_blocks_too_long'],
      [{ text: 'hi', link_names: true }, 'invalid_arguments'],
      [{ text: 'hi', parse: 'full' }, 'invalid_arguments'],
    ];
    for (const [args, error] of cases) {
      const { body } = await call('chat.postMessage', { channel: fake.channelId, text: 'fallback', ...args });
      expect(body, JSON.stringify(args).slice(0, 80)).toMatchObject({ ok: false, error });
    }
    expect((await call('chat.postMessage', { channel: fake.channelId, text: 'ok', blocks: [section('x'.repeat(3000))] })).body.ok).toBe(true);
  });

  it('refuses a modal past its limits and an unknown trigger', async () => {
    const view = { type: 'modal', title: { type: 'plain_text', text: 'x'.repeat(25) }, blocks: [] };
    expect((await call('views.open', { trigger_id: 'nope', view })).body.error).toBe('invalid_trigger_id');
  });

  it('checks tokens, and answers 429 with Retry-After on demand', async () => {
    expect((await call('auth.test', {}, 'xoxb-wrong')).body.error).toBe('invalid_auth');
    expect((await call('apps.connections.open', {}, fake.botToken)).body.error).toBe('invalid_auth');
    expect((await call('apps.connections.open', {}, fake.appToken)).body.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\?ticket=/);
    fake.rateLimit('chat.update', 1, 2);
    const limited = await call('chat.update', { channel: fake.channelId, ts: '1.1', text: 'x' });
    expect(limited).toMatchObject({ status: 429, retryAfter: '2', body: { ok: false, error: 'ratelimited' } });
    expect((await call('chat.update', { channel: fake.channelId, ts: '1.1', text: 'x' })).body.error).toBe('message_not_found');
  });
});
