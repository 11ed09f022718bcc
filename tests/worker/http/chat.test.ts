/**
 * Neuronpedia's `messages` input: where the chat template is found, and how each character of
 * the rendered chat is attributed to a message and a section.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REFERENCE_MODELS } from '../../../src/config';
import { loadChatTemplate, loadChatTokens, renderChat, spanAt } from '../../../src/worker/http/chat';

function modelDir(config: string | undefined): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-chat-'));
  writeFileSync(path.join(dir, 'manifest.yaml'), 'subject: {tokenizer: tok/tokenizer.json}\n');
  if (config !== undefined) {
    const tokDir = path.join(dir, 'tok');
    mkdirSync(tokDir);
    writeFileSync(path.join(tokDir, 'tokenizer_config.json'), config);
  }
  return path.join(dir, 'manifest.yaml');
}

describe('loadChatTemplate', () => {
  it('reads chat_template beside the subject tokenizer: a string, or the default of a named list', () => {
    expect(loadChatTemplate(REFERENCE_MODELS)).toMatch(/add_generation_prompt/);
    expect(loadChatTemplate(modelDir(JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] })))).toBe('D');
  });

  it('is undefined without a tokenizer_config.json or without a template, and names a malformed file', () => {
    expect(loadChatTemplate(modelDir(undefined))).toBeUndefined();
    expect(loadChatTemplate(modelDir('{}'))).toBeUndefined();
    expect(() => loadChatTemplate(modelDir('{"chat_template": '))).toThrow(/tokenizer_config\.json is not valid JSON/);
  });
});

describe('loadChatTokens', () => {
  it('reads bos/eos/unk/pad as strings or as added tokens, and skips anything else', () => {
    const config = { bos_token: '<bos>', eos_token: { __type: 'AddedToken', content: '<eos>' }, unk_token: null, pad_token: 7, chat_template: 'T' };
    expect(loadChatTokens(modelDir(JSON.stringify(config)))).toEqual({ bos_token: '<bos>', eos_token: '<eos>' });
    expect(loadChatTokens(REFERENCE_MODELS)).toEqual({ bos_token: '<|bos|>' });
    expect(loadChatTokens(modelDir(undefined))).toEqual({});
    expect(() => loadChatTokens(modelDir('{"bos_token": '))).toThrow(/tokenizer_config\.json is not valid JSON/);
  });
});

describe('renderChat', () => {
  const template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}</{{ m.role }}>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";

  // As Neuronpedia's NLA server assigns spans: `compute_spans` in apps/nla/chat_template_spans.py,
  // github.com/hijohnnylin/neuronpedia at commit ebb8426fc550ad5d1f76d52c271a624af3c08a57.
  it('attributes header, content and footer to each message, and the generation prompt to an assistant header', () => {
    const chat = renderChat(template, [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }], { addGenerationPrompt: true, continueFinalMessage: false });
    expect(chat.text).toBe('<user>hi</user><assistant>yo</assistant><assistant>');
    const at = (ch: number) => spanAt(chat, ch, ch + 1);
    expect(at(0)).toEqual({ role: 'user', section: 'header', channel: null, message_index: 0 });
    expect(at(6)).toMatchObject({ role: 'user', section: 'content' });
    expect(at(8)).toMatchObject({ role: 'user', section: 'footer' });
    expect(at(26)).toMatchObject({ role: 'assistant', section: 'content', message_index: 1 });
    expect(at(chat.text.length - 1)).toEqual({ role: 'assistant', section: 'header', channel: null, message_index: null });
    // A BOS the tokenizer added has no characters; it opens the first message.
    expect(spanAt(chat, 0, 0)).toEqual({ role: 'user', section: 'header', channel: null, message_index: 0 });
    // Without messages there is nothing to belong to.
    expect(spanAt(renderChat(template, [], { addGenerationPrompt: false, continueFinalMessage: false }), 0, 0)).toMatchObject({ section: 'scaffold', role: null });
  });

  it('continue_final_message ends the text at the last message\'s content, with no generation prompt', () => {
    const chat = renderChat(template, [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }], { addGenerationPrompt: true, continueFinalMessage: true });
    expect(chat.text).toBe('<user>hi</user><assistant>yo');
  });

  it('passes enable_thinking to the template only when it is set', () => {
    const thinking = '{% if enable_thinking is defined %}{{ enable_thinking }}{% else %}unset{% endif %}';
    expect(renderChat(thinking, [], { addGenerationPrompt: false, continueFinalMessage: false }).text).toBe('unset');
    expect(renderChat(thinking, [], { addGenerationPrompt: false, continueFinalMessage: false, enableThinking: false }).text).toBe('false');
  });
});
