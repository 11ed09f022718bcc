/**
 * `/explain` with `messages`: the chat rendered with the model's template is tokenized with the
 * tokenizer's special tokens matched, as Hugging Face's tokenizers (and Neuronpedia's NLA server,
 * which encodes the rendered string) do, so `<start_of_turn>` is one token, not fifteen bytes.
 *
 * The fixture is the reference stack with a Gemma-style tokenizer: the reference tokenizer.json
 * with its added special tokens renamed to Gemma's markers (`<bos>`, `<end_of_turn>`,
 * `<start_of_turn>`, on the ids the reference model knows), and a tokenizer_config.json with a
 * Gemma-style chat template, found through the manifest as a real model folder's would be.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { loadChatTemplate, loadChatTokens } from '../../../src/worker/http/chat';
import { registerRemoteBackends } from '../../../src/worker/remote';
import { createEngine, type RuntimeEngine } from '../../../src/worker/runtime/engine';
import type { WorkerServer } from '../../../src/worker/server';
import { sseFrames } from '../../contracts/contract';
import { call, SECRET, serve } from './reference-worker';

const REFERENCE_DIR = path.dirname(REFERENCE_MODELS);
const BOS = 256;
const END_OF_TURN = 257;
const START_OF_TURN = 258;

const GEMMA_STYLE_TEMPLATE = [
  '{{ bos_token }}{% for message in messages %}',
  "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}",
  "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n",
  '{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}',
].join('');

/** A model folder: the reference files, with the Gemma-style tokenizer as the subject's. */
function gemmaStyleModels(dir: string, template: string): string {
  const tokenizer = readFileSync(path.join(REFERENCE_DIR, 'tokenizer.json'), 'utf8')
    .split('<|bos|>')
    .join('<bos>')
    .split('<|eos|>')
    .join('<end_of_turn>')
    .split('<|pad|>')
    .join('<start_of_turn>');
  const added = (JSON.parse(tokenizer) as { added_tokens: Array<{ id: number; content: string; special: boolean }> }).added_tokens;
  // The fixture's premise: the markers are added tokens marked special.
  expect(added.filter((t) => t.special).map((t) => [t.id, t.content])).toEqual([
    [BOS, '<bos>'],
    [END_OF_TURN, '<end_of_turn>'],
    [START_OF_TURN, '<start_of_turn>'],
    [259, '\u320e'],
  ]);
  writeFileSync(path.join(dir, 'tokenizer.json'), tokenizer);
  // eos_token in the added-token form some tokenizer_config.json files use.
  writeFileSync(
    path.join(dir, 'tokenizer_config.json'),
    JSON.stringify({ bos_token: '<bos>', eos_token: { __type: 'AddedToken', content: '<end_of_turn>', special: true }, chat_template: template }),
  );
  const at = (file: string) => JSON.stringify(path.join(REFERENCE_DIR, file));
  const referenceTokenizer = at('tokenizer.json');
  writeFileSync(
    path.join(dir, 'manifest.yaml'),
    [
      'name: confab-reference-gemma-markers',
      `subject: {onnx: ${at('subject.onnx')}, tokenizer: tokenizer.json, layer: 2, d_model: 128, max_tokens: 128, bos_token_id: ${BOS}, hidden_output: hidden}`,
      `sae: {path: ${at('sae')}, labels: ${at('sae/labels.json')}}`,
      'nla:',
      // The NLA keeps the reference tokenizer: its templates are written in the reference markers.
      `  av: {path: ${at('nla/av')}, tokenizer: ${referenceTokenizer}, backend: onnx, onnx: decoder.onnx, embeddings: model.safetensors, embedding_key: embed_tokens.weight, embed_scale: 1.0, eos_token_id: 257, max_new_tokens: 64}`,
      `  ar: {path: ${at('nla/ar')}, tokenizer: ${referenceTokenizer}, backend: onnx, onnx: ar.onnx}`,
      `stats: ${at('stats.json')}`,
      'execution_provider: cpu',
      '',
    ].join('\n'),
  );
  copyFileSync(path.join(REFERENCE_DIR, 'stats.json'), path.join(dir, 'stats.json'));
  return path.join(dir, 'manifest.yaml');
}

interface ExplainAnswer {
  results: Array<{ token: string; token_id: number; position: number; role: string | null; section: string | null; message_index: number | null }>;
}

describe('/explain messages: template markers are special tokens', () => {
  let dir: string;
  let engine: RuntimeEngine;
  let worker: WorkerServer;
  const messages = [{ role: 'user', content: 'Hola' }];
  // <bos> <start_of_turn> u s e r \n H o l a <end_of_turn> \n <start_of_turn> m o d e l \n
  const expectedIds = [BOS, START_OF_TURN, ...Buffer.from('user\nHola'), END_OF_TURN, 10, START_OF_TURN, ...Buffer.from('model\n')];

  beforeAll(async () => {
    registerRemoteBackends();
    dir = mkdtempSync(path.join(tmpdir(), 'confab-chat-specials-'));
    const manifest = gemmaStyleModels(dir, GEMMA_STYLE_TEMPLATE);
    engine = await createEngine(manifest, { executionProvider: 'cpu' });
    worker = await serve(engine, { secret: SECRET, chatTemplate: loadChatTemplate(manifest), chatTokens: loadChatTokens(manifest) });
  });

  afterAll(async () => {
    await worker?.close();
    await engine?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gives <start_of_turn> and <end_of_turn> their single ids, with the spans of their message', async () => {
    const answer = await call(`${worker.url}/explain`, { body: { messages, positions: [1, 11, -1], reverse: false, max_new_tokens: 2 } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const results = (answer.body as ExplainAnswer).results;
    expect(results.map((r) => [r.position, r.token_id, r.token])).toEqual([
      [1, START_OF_TURN, '<start_of_turn>'],
      [11, END_OF_TURN, '<end_of_turn>'],
      [expectedIds.length - 1, 10, '\n'],
    ]);
    expect(results[0]).toMatchObject({ role: 'user', section: 'header', message_index: 0 });
    // The template printed bos_token, so BOS is part of the first message's header, as there.
    const bos = await call(`${worker.url}/explain`, { body: { messages, positions: [0], max_new_tokens: 1 } });
    expect((bos.body as ExplainAnswer).results[0]).toMatchObject({ token_id: BOS, token: '<bos>', role: 'user', section: 'header' });
    expect(results[1]).toMatchObject({ role: 'user', section: 'footer', message_index: 0 });
  });

  it('every position of the chat is one of its tokens: no position past the last marker', async () => {
    const all = await call(`${worker.url}/explain`, { body: { messages, reverse: false, max_new_tokens: 1 } });
    expect(all.status, JSON.stringify(all.body)).toBe(200);
    expect((all.body as ExplainAnswer).results.map((r) => r.token_id)).toEqual(expectedIds);
    const beyond = await call(`${worker.url}/explain`, { body: { messages, positions: [expectedIds.length], max_new_tokens: 1 } });
    expect(beyond.status).toBe(422);
    expect(JSON.stringify(beyond.body)).toContain(`the prompt has ${expectedIds.length} tokens`);
  });

  it('the streamed form tokenizes the chat the same way', async () => {
    const response = await fetch(`${worker.url}/explain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-secret-key': SECRET },
      body: JSON.stringify({ messages, positions: [1], stream: true, max_new_tokens: 1 }),
    });
    expect(response.status).toBe(200);
    const frames = sseFrames(await response.text()) as Array<Record<string, unknown>>;
    expect(frames[0]).toMatchObject({ prompt_length: expectedIds.length, total: 1 });
    expect(frames[1]).toMatchObject({ position: 1, token_id: START_OF_TURN, token: '<start_of_turn>' });
  });

  it('plain text never matches special tokens: the same markers typed in `text` or /v1/analyze stay bytes', async () => {
    const typed = '<start_of_turn>user\nHola';
    const text = await call(`${worker.url}/explain`, { body: { text: typed, positions: [1], max_new_tokens: 1 } });
    expect(text.status).toBe(200);
    expect((text.body as ExplainAnswer).results[0]).toMatchObject({ token_id: '<'.charCodeAt(0), token: '<' });
    const analyzed = await call(`${worker.url}/v1/analyze`, { body: { prompt: typed, nla_samples: 0 } });
    expect(analyzed.status).toBe(200);
    const ids = (analyzed.body as { tokens: Array<{ id: number }> }).tokens.map((t) => t.id);
    expect(ids).toEqual([BOS, ...Buffer.from(typed)]);
    // The engine's flag for a rendered chat is not part of the wire: a client cannot set it.
    const flagged = await call(`${worker.url}/v1/analyze`, { body: { prompt: typed, nla_samples: 0, rendered_chat: true } });
    expect(flagged.status).toBe(400);
    expect(JSON.stringify(flagged.body)).toContain('rendered_chat');
  });
});

describe('/explain messages: a template that writes BOS itself', () => {
  let dir: string;
  let engine: RuntimeEngine;
  let worker: WorkerServer;

  beforeAll(async () => {
    registerRemoteBackends();
    dir = mkdtempSync(path.join(tmpdir(), 'confab-chat-bos-'));
    const manifest = gemmaStyleModels(dir, GEMMA_STYLE_TEMPLATE.replace('{{ bos_token }}', '<bos>'));
    engine = await createEngine(manifest, { executionProvider: 'cpu' });
    worker = await serve(engine, { secret: SECRET, chatTemplate: loadChatTemplate(manifest), chatTokens: loadChatTokens(manifest) });
  });

  afterAll(async () => {
    await worker?.close();
    await engine?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('gets one BOS, not two', async () => {
    const answer = await call(`${worker.url}/explain`, { body: { messages: [{ role: 'user', content: 'Hola' }], positions: [0, 1], reverse: false, max_new_tokens: 1 } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect((answer.body as ExplainAnswer).results.map((r) => r.token_id)).toEqual([BOS, START_OF_TURN]);
  });
});

describe('/explain messages: a template that prints eos_token after each turn', () => {
  let dir: string;
  let engine: RuntimeEngine;
  let worker: WorkerServer;

  beforeAll(async () => {
    registerRemoteBackends();
    dir = mkdtempSync(path.join(tmpdir(), 'confab-chat-eos-'));
    const manifest = gemmaStyleModels(dir, "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m['content'] }}{{ eos_token }}{% endfor %}");
    engine = await createEngine(manifest, { executionProvider: 'cpu' });
    worker = await serve(engine, { secret: SECRET, chatTemplate: loadChatTemplate(manifest), chatTokens: loadChatTokens(manifest) });
  });

  afterAll(async () => {
    await worker?.close();
    await engine?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the tokenizer_config.json strings of bos_token and eos_token, and tokenizes them as their ids', async () => {
    const messages = [
      { role: 'user', content: 'Hola' },
      { role: 'assistant', content: 'Hi' },
    ];
    const answer = await call(`${worker.url}/explain`, { body: { messages, reverse: false, max_new_tokens: 1, add_generation_prompt: false } });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const results = (answer.body as ExplainAnswer).results;
    expect(results.map((r) => r.token_id)).toEqual([BOS, ...Buffer.from('[user] Hola'), END_OF_TURN, ...Buffer.from('[assistant] Hi'), END_OF_TURN]);
    expect(results[12]).toMatchObject({ token: '<end_of_turn>', role: 'user', message_index: 0, section: 'footer' });
    expect(results.at(-1)).toMatchObject({ token: '<end_of_turn>', role: 'assistant', message_index: 1, section: 'footer' });
  });
});
