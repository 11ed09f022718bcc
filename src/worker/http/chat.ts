/**
 * Neuronpedia's `messages` input: the chat rendered with the subject model's own Jinja chat
 * template (`chat_template` in the `tokenizer_config.json` beside its `tokenizer.json`), and
 * each character of the result attributed to a message (role, index, and header / content /
 * footer / scaffold), so every token can carry the span fields of Neuronpedia's results.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { parse as parseYaml } from 'yaml';
import { detailError } from './fastapi';

export interface ChatMessage {
  role: string;
  content: string;
  channel?: string | null;
}

export interface ChatOptions {
  addGenerationPrompt: boolean;
  continueFinalMessage: boolean;
  enableThinking?: boolean | null;
  /** The special tokens' strings the template may print (`bos_token`, `eos_token`…). */
  tokens?: ChatTokens;
}

/** The special-token variables Hugging Face hands a chat template, from `tokenizer_config.json`. */
export type ChatTokens = Partial<Record<(typeof CHAT_TOKEN_KEYS)[number], string>>;

const CHAT_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const;

interface MessageRegion {
  start: number;
  end: number;
  contentStart: number;
  contentEnd: number;
  role: string;
  channel: string | null;
}

export interface RenderedChat {
  text: string;
  regions: MessageRegion[];
}

export interface TokenSpan {
  role: string | null;
  /** Null, like the other fields, for plain-text input. */
  section: 'header' | 'content' | 'footer' | 'scaffold' | null;
  channel: string | null;
  message_index: number | null;
}

/**
 * The chat template of the manifest's subject tokenizer, or undefined when it has none. A
 * template list (Hugging Face's named templates) yields its `default`.
 */
export function loadChatTemplate(manifestPath: string): string | undefined {
  const config = readTokenizerConfig(manifestPath);
  if (!config) return undefined;
  const template = config.chat_template;
  if (typeof template === 'string') return template;
  if (Array.isArray(template)) {
    const named = template.find((t: { name?: unknown }) => t.name === 'default') as { template?: unknown } | undefined;
    if (typeof named?.template === 'string') return named.template;
  }
  return undefined;
}

/**
 * The strings of `bos_token`, `eos_token`, `unk_token` and `pad_token` in the subject's
 * `tokenizer_config.json` (a plain string, or an added token's `content`), which a template
 * prints as Hugging Face's `apply_chat_template` has it print them.
 */
export function loadChatTokens(manifestPath: string): ChatTokens {
  const config = readTokenizerConfig(manifestPath) ?? {};
  const tokens: ChatTokens = {};
  for (const key of CHAT_TOKEN_KEYS) {
    const value = config[key];
    const content = typeof value === 'string' ? value : (value as { content?: unknown } | null | undefined)?.content;
    if (typeof content === 'string') tokens[key] = content;
  }
  return tokens;
}

function readTokenizerConfig(manifestPath: string): Record<string, unknown> | undefined {
  const manifest = parseYaml(readFileSync(manifestPath, 'utf8')) as { subject?: { tokenizer?: unknown } } | null;
  const tokenizer = manifest?.subject?.tokenizer;
  if (typeof tokenizer !== 'string') return undefined;
  const configPath = path.join(path.dirname(path.resolve(path.dirname(manifestPath), tokenizer)), 'tokenizer_config.json');
  if (!existsSync(configPath)) return undefined;
  try {
    return JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${configPath} is not valid JSON (${(err as Error).message}); fix it or remove it to serve without a chat template.`);
  }
}

function render(template: Template, messages: ChatMessage[], addGenerationPrompt: boolean, options: ChatOptions): string {
  const enableThinking = options.enableThinking;
  // A missing token prints as nothing; the engine adds BOS itself when the template did not.
  const vars: Record<string, unknown> = { messages, add_generation_prompt: addGenerationPrompt, bos_token: '', eos_token: '', ...options.tokens };
  if (enableThinking !== undefined && enableThinking !== null) vars.enable_thinking = enableThinking;
  return template.render(vars);
}

/**
 * Render the chat, then find where each message lies by rendering the conversation up to it:
 * templates differ in their markers, but every one renders a prefix of the chat as a prefix.
 */
export function renderChat(source: string, messages: ChatMessage[], options: ChatOptions): RenderedChat {
  let template: Template;
  let text: string;
  const regions: MessageRegion[] = [];
  try {
    template = new Template(source);
    // Continuing the final message leaves the turn open: no generation prompt, and the text cut
    // at the end of that message's content.
    text = render(template, messages, options.addGenerationPrompt && !options.continueFinalMessage, options);
    let cursor = 0;
    for (let i = 0; i < messages.length; i++) {
      const prefix = render(template, messages.slice(0, i + 1), false, options);
      const end = text.startsWith(prefix) ? prefix.length : Math.max(cursor, text.indexOf(messages[i].content, cursor) + messages[i].content.length);
      const found = text.indexOf(messages[i].content, cursor);
      const contentStart = found >= 0 && found < end ? found : end;
      const contentEnd = found >= 0 && found < end ? found + messages[i].content.length : end;
      regions.push({ start: cursor, end, contentStart, contentEnd, role: messages[i].role, channel: messages[i].channel ?? null });
      cursor = end;
    }
  } catch (err) {
    throw detailError(400, `Failed to apply chat template: ${(err as Error).message}`);
  }
  if (options.continueFinalMessage && regions.length > 0) {
    const last = regions[regions.length - 1];
    text = text.slice(0, last.contentEnd);
    last.end = last.contentEnd;
  }
  return { text, regions };
}

/**
 * The span of the token whose characters start at `start`, as Neuronpedia's NLA server assigns
 * it (`compute_spans` in its chat_template_spans.py): a BOS the tokenizer added belongs to the
 * first message's header, and whatever follows the last message (the generation prompt) is an
 * assistant header outside any message.
 */
export function spanAt(chat: RenderedChat, start: number, end: number): TokenSpan {
  const first = chat.regions[0];
  if (end <= start) {
    if (first && start === 0) return { role: first.role, section: 'header', channel: first.channel, message_index: 0 };
    return { role: null, section: 'scaffold', channel: null, message_index: null };
  }
  for (let i = 0; i < chat.regions.length; i++) {
    const r = chat.regions[i];
    if (start < r.start || start >= r.end) continue;
    const section = start >= r.contentStart && start < r.contentEnd ? 'content' : start < r.contentStart ? 'header' : 'footer';
    return { role: r.role, section, channel: r.channel, message_index: i };
  }
  const last = chat.regions.at(-1);
  if (last && start >= last.end) return { role: 'assistant', section: 'header', channel: null, message_index: null };
  return { role: null, section: 'scaffold', channel: null, message_index: null };
}
