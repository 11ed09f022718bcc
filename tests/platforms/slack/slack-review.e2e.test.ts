/**
 * The Slack review loop end to end, in Socket Mode and in HTTP mode: a real Bolt App against
 * the local Slack fake, the real core on PGlite, and the embedded worker on the reference stack
 * (which a test can take down). Every payload Confab sends passes the fake's limit checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiCall, Mode } from '../../fakes/slack/server';
import { actionIds, blockText, HAS_REFERENCE_STACK, referenceBackend, startHarness, USERS, type GatedBackend, type Harness } from './harness';

const HOSTILE = '<!channel> <@U123> *bold* ```code``` <https://evil.example|click> & <#C999> <!here>';
const headerOf = (blocks: any[]) => blocks.find((b) => b.type === 'header')?.text.text as string;

describe.skipIf(!HAS_REFERENCE_STACK).each<Mode>(['http', 'socket'])('Slack review loop (%s mode)', (mode) => {
  let h: Harness;
  let worker: GatedBackend;
  beforeAll(async () => {
    worker = await referenceBackend();
    h = await startHarness({ backend: worker, mode });
  });
  afterAll(async () => {
    await h?.close();
  });

  /** `/confab explain`, then the pending message and the chat.update that completes it. */
  async function explain(text: string, user = USERS.ana) {
    const from = h.fake.calls.length;
    const delivery = await h.fake.slash(`explain ${text}`, user);
    const pending = await h.fake.waitFor((c) => c.method === 'chat.postMessage' && c.status === 200, 30_000, from);
    expect(pending.error).toBeUndefined();
    const ts = pending.result.ts as string;
    const final = await h.fake.waitFor((c) => c.method === 'chat.update' && c.args.ts === ts && !/· (queued|running)$/.test(headerOf(c.args.blocks)), 60_000, from);
    expect(final.error).toBeUndefined();
    return { delivery, pending, final, ts };
  }

  /** Click, and wait for the private answer that click produced. */
  async function click(ts: string, actionId: string, user = USERS.bo) {
    const from = h.fake.ephemerals.length;
    const delivery = await h.fake.click({ ts }, actionId, user);
    const reply = await h.fake.waitForEphemeral(user.id, () => true, from);
    return { delivery, reply, text: blockText(reply.body.blocks) };
  }

  let ts: string;
  let first: number;

  it('/confab help explain gives the position range the model reads, not the declared one', async () => {
    const from = h.fake.ephemerals.length;
    const delivery = await h.fake.slash('help explain', USERS.ana);
    expect(delivery.status).toBe(200);
    const help = await h.fake.waitForEphemeral(USERS.ana.id, (e) => blockText(e.body.blocks).includes('position:'), from);
    // The reference model reads at most 128 tokens.
    expect(blockText(help.body.blocks)).toMatch(/position: [^\n]*\(-128 to 127\)/);
  });

  it('explain: acknowledged at once, posted pending, completed by chat.update with features, explanations and buttons', async () => {
    const { delivery, pending, final, ts: posted } = await explain('--samples 2 The quick brown fox jumps');
    expect(delivery.status).toBe(200);
    expect(delivery.ms).toBeLessThan(3_000);
    expect(headerOf(pending.args.blocks)).toMatch(/^Analysis #\d+ · (queued|running)$/);
    const blocks = final.args.blocks;
    expect(headerOf(blocks)).toMatch(/^Analysis #\d+$/);
    const prompt = blocks.find((b: any) => b.block_id === 'prompt').text.text;
    expect(prompt).toMatch(/\*⟦.+⟧\*/);
    const shown = blockText(blocks);
    expect(shown).toMatch(/SAE features at ⟦/);
    expect(shown).toMatch(/Round trip \(AR\): cos -?\d\.\d\d · mse_nrm \d\.\d\d · fve_nrm -?\d\.\d\d/);
    expect(shown).toMatch(/\*Explanation 1\*/);
    expect(shown).toMatch(/\*Explanation 2\*/);
    const ids = actionIds(blocks);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toEqual([expect.stringMatching(/^v:\d+:f$/), expect.stringMatching(/^v:\d+:c$/), expect.stringMatching(/^v:\d+:u$/), expect.stringMatching(/^n:\d+$/)]);
    expect(shown).not.toContain('Votes');
    ts = posted;
    first = Number(ids[0][0].split(':')[1]);
  });

  it('three members vote: each sees their own vote then the tally, privately; the item closes and only then the tally is public', async () => {
    for (const [i, member] of [USERS.bo, USERS.cy, USERS.dee].entries()) {
      const { delivery, reply, text } = await click(ts, `v:${first}:f`, member);
      expect(delivery.status).toBe(200);
      expect(reply.body.response_type).toBe('ephemeral');
      expect(reply.body.replace_original).toBe(false);
      expect(text.indexOf(`Your vote on #${first}: *Faithful*.`)).toBeLessThan(text.indexOf('Current tally: ✅ Faithful'));
      expect(text).toContain(`Current tally: ✅ Faithful ${i + 1} · ❌ Confabulated 0`);
      if (i < 2) expect(blockText(h.fake.messages.get(ts)!.blocks)).not.toContain('Votes (closed)');
    }
    const closing = await h.fake.waitFor((c) => c.method === 'chat.update' && c.args.ts === ts && blockText(c.args.blocks).includes('Votes (closed)'));
    expect(closing.error).toBeUndefined();
    const message = h.fake.messages.get(ts)!;
    expect(blockText(message.blocks)).toContain('Votes (closed): ✅ Faithful 3 · ❌ Confabulated 0 · ❔ Unsure 0 — *faithful*');
    expect(actionIds(message.blocks).flat()).not.toContain(`v:${first}:f`);
    expect(actionIds(message.blocks)).toHaveLength(1); // the second explanation is still open
  });

  it("an item closed from elsewhere (/confab vote, an admin's /confab close) also reveals its tally on the public message", async () => {
    const { ts: posted, final } = await explain('--samples 2 Closed from elsewhere');
    const [[faithful], [second]] = actionIds(final.args.blocks);
    const [one, two] = [faithful, second].map((id) => Number(id.split(':')[1]));
    for (const member of [USERS.bo, USERS.cy]) await click(posted, `v:${one}:f`, member);
    expect(blockText(h.fake.messages.get(posted)!.blocks)).not.toContain('Votes (closed)');
    const from = h.fake.ephemerals.length;
    await h.fake.slash(`vote #${one} faithful`, USERS.dee);
    expect(blockText((await h.fake.waitForEphemeral(USERS.dee.id, () => true, from)).body.blocks)).toContain('closed this item');
    await h.fake.waitFor((c) => c.method === 'chat.update' && c.args.ts === posted && blockText(c.args.blocks).includes('✅ Faithful 3'));

    await h.fake.slash(`close ${two}`, USERS.ana);
    await h.fake.waitFor((c) => c.method === 'chat.update' && c.args.ts === posted && (blockText(c.args.blocks).match(/Votes \(closed\)/g) ?? []).length === 2);
    expect(actionIds(h.fake.messages.get(posted)!.blocks)).toEqual([]);
  });

  it('a duplicate click is idempotent, a changed vote is recorded, and the Note modal records the note and marked claims', async () => {
    const { ts: posted, final } = await explain('Dime con quién andas');
    const [[faithful, confabulated, , note]] = actionIds(final.args.blocks);
    const explanationId = Number(faithful.split(':')[1]);
    expect((await click(posted, faithful)).text).toContain('*Faithful*');
    expect((await click(posted, faithful)).text).toContain('You already voted *Faithful*');
    expect((await click(posted, confabulated)).text).toContain('changed from *Faithful* to *Confabulated*');

    const from = h.fake.calls.length;
    await h.fake.click({ ts: posted }, note, USERS.cy);
    const opened = await h.fake.waitFor((c) => c.method === 'views.open', 10_000, from);
    expect(opened.error).toBeUndefined();
    const view = opened.args.view;
    expect(view.callback_id).toBe(`m:${explanationId}`);
    const claims = view.blocks.find((b: any) => b.block_id === 'claims');
    expect(claims.element.type).toBe('checkboxes');
    expect(claims.element.options.length).toBeGreaterThanOrEqual(1);
    const before = h.fake.ephemerals.length;
    const submitted = await h.fake.submitView(opened.result.view.id, {
      label: { label: { selected_option: { value: 'confabulated' } } },
      note: { note: { value: 'It is Spanish, not jargon. <!channel>' } },
      claims: { claims: { selected_options: [{ value: claims.element.options[0].value }] } },
    }, USERS.cy);
    expect(submitted.status).toBe(200);
    const confirmation = await h.fake.waitForEphemeral(USERS.cy.id, () => true, before);
    expect(confirmation.via).toBe('chat.postEphemeral');
    const text = blockText(confirmation.body.blocks);
    expect(text).toContain('*Confabulated*');
    expect(text).toContain('It is Spanish, not jargon. &lt;!channel&gt;');
    expect(text).toMatch(/Claims you marked wrong\*\n• \S/);
  });

  it('a Note submitted without a vote is refused in the modal itself', async () => {
    const { ts: posted, final } = await explain('Note without a label');
    const note = actionIds(final.args.blocks)[0][3];
    const from = h.fake.calls.length;
    await h.fake.click({ ts: posted }, note, USERS.dee);
    const opened = await h.fake.waitFor((c) => c.method === 'views.open', 10_000, from);
    const answer = await h.fake.submitView(opened.result.view.id, { label: { label: { selected_option: null } }, note: { note: { value: 'hm' } } }, USERS.dee);
    expect(answer.ack).toEqual({ response_action: 'errors', errors: { label: 'Choose Faithful, Confabulated or Unsure.' } });
  });

  it('a hostile prompt is shown escaped: no mention, no link, no formatting', async () => {
    const { final } = await explain(HOSTILE);
    const prompt = final.args.blocks.find((b: any) => b.block_id === 'prompt').text;
    expect(prompt.verbatim).toBe(true);
    for (const dangerous of ['<!channel>', '<@U123>', '<https://', '<#C999>', '<!here>', '*bold*', '```']) expect(prompt.text).not.toContain(dangerous);
    expect(prompt.text).toContain('&lt;!channel&gt; &lt;@U123&gt;');
    expect(prompt.text).toContain('&lt;https://evil.example|click&gt; &amp;');
    for (const call of h.fake.calls.filter((c) => ['chat.postMessage', 'chat.update', 'chat.postEphemeral'].includes(c.method))) {
      expect(call.args.link_names).toBeUndefined();
      expect(call.args.parse).toBeUndefined();
      expect(blockText(call.args.blocks ?? [])).not.toMatch(/<!(channel|here|everyone)>|<@U|<#C|<https?:/);
    }
  });

  it('buttons posted before a restart still work after it', async () => {
    const { ts: posted, final } = await explain('Restart me');
    await h.restartChannel();
    if (mode === 'socket') expect(h.fake.connectedSockets).toBe(1);
    const unsure = actionIds(final.args.blocks)[0][2];
    expect((await click(posted, unsure, USERS.dee)).text).toContain('*Unsure*');
  });

  it('after a restart, an item closed by /confab vote or by the Note modal still updates its public message', async () => {
    const { ts: posted, final } = await explain('--samples 2 Closed after a restart');
    const [[one], [two, , , twoNote]] = actionIds(final.args.blocks);
    const [first, second] = [one, two].map((id) => Number(id.split(':')[1]));
    for (const member of [USERS.bo, USERS.cy]) {
      await click(posted, `v:${first}:f`, member);
      await click(posted, `v:${second}:c`, member);
    }
    const closedOn = (count: number) => (c: ApiCall) => c.method === 'chat.update' && c.args.ts === posted && (blockText(c.args.blocks).match(/Votes \(closed\)/g) ?? []).length === count;

    await h.restartChannel();
    const from = h.fake.ephemerals.length;
    await h.fake.slash(`vote #${first} faithful`, USERS.dee);
    expect(blockText((await h.fake.waitForEphemeral(USERS.dee.id, () => true, from)).body.blocks)).toContain('closed this item');
    await h.fake.waitFor(closedOn(1));
    let message = h.fake.messages.get(posted)!;
    expect(blockText(message.blocks)).toContain('Votes (closed): ✅ Faithful 3 · ❌ Confabulated 0 · ❔ Unsure 0 — *faithful*');
    expect(actionIds(message.blocks).flat()).not.toContain(one);
    expect(actionIds(message.blocks).flat()).toContain(two);

    await h.restartChannel();
    const calls = h.fake.calls.length;
    await h.fake.click({ ts: posted }, twoNote, USERS.dee);
    const opened = await h.fake.waitFor((c) => c.method === 'views.open', 10_000, calls);
    await h.restartChannel();
    await h.fake.submitView(opened.result.view.id, { label: { label: { selected_option: { value: 'confabulated' } } } }, USERS.dee);
    await h.fake.waitFor(closedOn(2), 30_000, calls);
    message = h.fake.messages.get(posted)!;
    expect(blockText(message.blocks)).toContain('Votes (closed): ✅ Faithful 0 · ❌ Confabulated 3 · ❔ Unsure 0 — *confabulated*');
    expect(actionIds(message.blocks)).toEqual([]);
  });

  it('with the worker down the analysis fails with a clear reason; Retry runs it again once the worker is back', async () => {
    worker.down = true;
    let failed: ApiCall;
    let posted: string;
    try {
      ({ final: failed, ts: posted } = await explain('The worker is down'));
    } finally {
      worker.down = false;
    }
    expect(headerOf(failed.args.blocks)).toMatch(/· failed$/);
    expect(blockText(failed.args.blocks)).toMatch(/Failed:\*.*unavailable[\s\S]*retr/i);
    const [[retry]] = actionIds(failed.args.blocks);
    expect(retry).toMatch(/^r:\d+$/);
    const from = h.fake.calls.length;
    await h.fake.click({ ts: posted }, retry, USERS.bo);
    const done = await h.fake.waitFor((c) => c.method === 'chat.update' && c.args.ts === posted && headerOf(c.args.blocks) === headerOf(failed.args.blocks).replace(' · failed', ''), 60_000, from);
    expect(done.error).toBeUndefined();
    const message = h.fake.messages.get(posted)!;
    expect(actionIds(message.blocks).flat()).not.toContain(retry);
    expect(actionIds(message.blocks)[0][0]).toMatch(/^v:\d+:f$/);
  });

  it('review: the next item, privately, with the same buttons and Next item', async () => {
    const from = h.fake.ephemerals.length;
    await h.fake.slash('review', USERS.ana);
    const reply = await h.fake.waitForEphemeral(USERS.ana.id, () => true, from);
    expect(reply.body.response_type).toBe('ephemeral');
    const [ids] = actionIds(reply.body.blocks);
    expect(ids).toEqual([expect.stringMatching(/^v:\d+:f$/), expect.stringMatching(/^v:\d+:c$/), expect.stringMatching(/^v:\d+:u$/), expect.stringMatching(/^n:\d+$/), expect.stringMatching(/^x:\d+$/)]);
    const vote = h.fake.ephemerals.length;
    await h.fake.click({ ephemeralBlocks: reply.body.blocks }, ids[2], USERS.ana);
    expect(blockText((await h.fake.waitForEphemeral(USERS.ana.id, () => true, vote)).body.blocks)).toContain('*Unsure*');
    const next = h.fake.ephemerals.length;
    await h.fake.click({ ephemeralBlocks: reply.body.blocks }, ids[4], USERS.ana);
    const nextItem = await h.fake.waitForEphemeral(USERS.ana.id, () => true, next);
    expect(nextItem.body.replace_original).toBe(true);
    expect(actionIds(nextItem.body.blocks)[0]?.[0] ?? 'nothing').not.toBe(ids[0]);
  });

  it('dataset: uploaded with files.uploadV2 when it fits, else says where it was written', async () => {
    const from = h.fake.calls.length;
    const before = h.fake.ephemerals.length;
    await h.fake.slash('dataset', USERS.ana);
    const reply = await h.fake.waitForEphemeral(USERS.ana.id, () => true, before, 60_000);
    expect(blockText(reply.body.blocks)).toMatch(/Uploaded: confab-dataset\.jsonl \([\d,]+ bytes\), in a direct message to you\./);
    const steps = h.fake.calls.slice(from).map((c) => c.method).filter((m) => m.startsWith('files.') || m === 'upload');
    expect(steps).toEqual(['files.getUploadURLExternal', 'upload', 'files.completeUploadExternal']);
    const complete = h.fake.calls.slice(from).find((c) => c.method === 'files.completeUploadExternal')!;
    expect(complete.error).toBeUndefined();
    expect(complete.args.channel_id).toBe(`D${USERS.ana.id}`);

    h.fake.maxUploadBytes = 1;
    try {
      const again = h.fake.ephemerals.length;
      await h.fake.slash('dataset', USERS.ana);
      const refused = await h.fake.waitForEphemeral(USERS.ana.id, () => true, again, 60_000);
      expect(blockText(refused.body.blocks)).toMatch(/Slack refused the upload \(file\u200b_\u200btoo\u200b_\u200blarge\)\. It was written to .*confab-dataset\.jsonl on the bot's host\./);
    } finally {
      h.fake.maxUploadBytes = 1024 * 1024 * 1024;
    }

    const member = h.fake.ephemerals.length;
    await h.fake.slash('dataset', USERS.bo);
    expect(blockText((await h.fake.waitForEphemeral(USERS.bo.id, () => true, member)).body.blocks)).toMatch(/dataset is for admins/);
  });

  it('nothing Confab sent was refused by the fake, and nothing was logged as an error', () => {
    const refused = h.fake.calls.filter((c) => c.refusal);
    expect(refused.map((c) => `${c.method}: ${c.refusal!.messages.join('; ')}`)).toEqual([]);
    expect(h.errors).toEqual([]);
  });
});
