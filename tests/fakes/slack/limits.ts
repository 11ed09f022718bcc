/**
 * Slack's payload rules, as the fake enforces them: a message or modal that breaks one is
 * refused (`invalid_blocks`, `msg_too_long`, `msg_blocks_too_long`, `invalid_arguments`), as
 * Slack refuses it. Limits: platforms.md and the Block Kit reference.
 */

export const SLACK_LIMITS = {
  messageBlocks: 50,
  modalBlocks: 100,
  sectionText: 3000,
  sectionFields: 10,
  sectionField: 2000,
  messageText: 40_000,
  contextElements: 10,
  actionsElements: 25,
  buttonText: 75,
  actionId: 255,
  blockId: 255,
  buttonValue: 2000,
  header: 150,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  callbackId: 255,
  checkboxOptions: 10,
  radioOptions: 10,
  optionText: 75,
  inputLabel: 2000,
  /** Total characters of text in a message's blocks past which Slack answers msg_blocks_too_long. */
  blockText: 13_000,
} as const;

type Json = any;

export interface Refusal {
  error: 'invalid_blocks' | 'msg_too_long' | 'msg_blocks_too_long' | 'invalid_arguments';
  messages: string[];
}

function textProblems(object: Json, where: string, limit: number, plainOnly = false): string[] {
  if (!object || typeof object !== 'object') return [`${where}: missing text object`];
  if (object.type !== 'plain_text' && object.type !== 'mrkdwn') return [`${where}: text type must be plain_text or mrkdwn`];
  if (plainOnly && object.type !== 'plain_text') return [`${where}: must be plain_text`];
  if (typeof object.text !== 'string' || object.text.length === 0) return [`${where}: text must be a non-empty string`];
  if (object.text.length > limit) return [`${where}: text is ${object.text.length} characters; the limit is ${limit}`];
  return [];
}

function textLength(value: Json): number {
  if (!value || typeof value !== 'object') return 0;
  if (Array.isArray(value)) return value.reduce((n, v) => n + textLength(v), 0);
  let n = typeof value.text === 'string' ? value.text.length : 0;
  for (const v of Object.values(value)) if (v && typeof v === 'object') n += textLength(v);
  return n;
}

function elementProblems(element: Json, where: string): string[] {
  const out: string[] = [];
  if (typeof element.action_id === 'string' && element.action_id.length > SLACK_LIMITS.actionId) out.push(`${where}: action_id over ${SLACK_LIMITS.actionId}`);
  switch (element.type) {
    case 'button':
      out.push(...textProblems(element.text, `${where}.text`, SLACK_LIMITS.buttonText, true));
      if (element.value !== undefined && (typeof element.value !== 'string' || element.value.length > SLACK_LIMITS.buttonValue)) out.push(`${where}: value over ${SLACK_LIMITS.buttonValue}`);
      if (element.style !== undefined && !['primary', 'danger'].includes(element.style)) out.push(`${where}: style must be primary or danger`);
      break;
    case 'checkboxes':
    case 'radio_buttons': {
      const options: Json[] = element.options ?? [];
      const max = element.type === 'checkboxes' ? SLACK_LIMITS.checkboxOptions : SLACK_LIMITS.radioOptions;
      if (options.length < 1 || options.length > max) out.push(`${where}: ${options.length} options; allowed 1 to ${max}`);
      options.forEach((o, i) => out.push(...textProblems(o.text, `${where}.options[${i}]`, SLACK_LIMITS.optionText)));
      break;
    }
    case 'plain_text_input':
      if (element.max_length !== undefined && (element.max_length < 1 || element.max_length > 3000)) out.push(`${where}: max_length must be 1 to 3000`);
      break;
    default:
      out.push(`${where}: unsupported element type ${element.type}`);
  }
  return out;
}

export function blockProblems(blocks: Json, maxBlocks: number, modal: boolean): string[] {
  if (!Array.isArray(blocks)) return ['blocks must be an array'];
  const out: string[] = [];
  if (blocks.length > maxBlocks) out.push(`${blocks.length} blocks; the limit is ${maxBlocks}`);
  const ids = new Set<string>();
  blocks.forEach((block: Json, i: number) => {
    const where = `blocks[${i}]`;
    if (block.block_id !== undefined) {
      if (typeof block.block_id !== 'string' || block.block_id.length === 0 || block.block_id.length > SLACK_LIMITS.blockId) out.push(`${where}: bad block_id`);
      else if (ids.has(block.block_id)) out.push(`${where}: duplicate block_id ${block.block_id}`);
      else ids.add(block.block_id);
    }
    switch (block.type) {
      case 'divider':
        break;
      case 'header':
        out.push(...textProblems(block.text, `${where}.text`, SLACK_LIMITS.header, true));
        break;
      case 'section':
        if (block.text !== undefined || !block.fields) out.push(...textProblems(block.text, `${where}.text`, SLACK_LIMITS.sectionText));
        if (block.fields) {
          if (block.fields.length > SLACK_LIMITS.sectionFields) out.push(`${where}: more than ${SLACK_LIMITS.sectionFields} fields`);
          block.fields.forEach((f: Json, j: number) => out.push(...textProblems(f, `${where}.fields[${j}]`, SLACK_LIMITS.sectionField)));
        }
        break;
      case 'context': {
        const elements: Json[] = block.elements ?? [];
        if (elements.length < 1 || elements.length > SLACK_LIMITS.contextElements) out.push(`${where}: ${elements.length} elements; allowed 1 to ${SLACK_LIMITS.contextElements}`);
        elements.forEach((e, j) => out.push(...textProblems(e, `${where}.elements[${j}]`, SLACK_LIMITS.sectionText)));
        break;
      }
      case 'actions': {
        const elements: Json[] = block.elements ?? [];
        if (elements.length < 1 || elements.length > SLACK_LIMITS.actionsElements) out.push(`${where}: ${elements.length} elements; allowed 1 to ${SLACK_LIMITS.actionsElements}`);
        const actionIds = new Set<string>();
        elements.forEach((e, j) => {
          out.push(...elementProblems(e, `${where}.elements[${j}]`));
          if (actionIds.has(e.action_id)) out.push(`${where}: duplicate action_id ${e.action_id}`);
          actionIds.add(e.action_id);
        });
        break;
      }
      case 'input':
        if (!modal) out.push(`${where}: input blocks belong in modals`);
        out.push(...textProblems(block.label, `${where}.label`, SLACK_LIMITS.inputLabel, true));
        if (block.hint) out.push(...textProblems(block.hint, `${where}.hint`, SLACK_LIMITS.inputLabel, true));
        out.push(...elementProblems(block.element ?? {}, `${where}.element`));
        break;
      default:
        out.push(`${where}: unsupported block type ${block.type}`);
    }
  });
  return out;
}

/** Why Slack would refuse this chat.postMessage / chat.update / chat.postEphemeral / response_url body, or null. */
export function messageRefusal(args: Json): Refusal | null {
  if (args.link_names !== undefined && args.link_names !== false && args.link_names !== 'false') {
    return { error: 'invalid_arguments', messages: ['link_names is set: user text could notify people'] };
  }
  if (args.parse === 'full') return { error: 'invalid_arguments', messages: ['parse: full is set: user text could notify people'] };
  if (typeof args.text === 'string' && args.text.length > SLACK_LIMITS.messageText) return { error: 'msg_too_long', messages: [`text is ${args.text.length} characters`] };
  if (args.blocks === undefined) return typeof args.text === 'string' && args.text ? null : { error: 'invalid_arguments', messages: ['no text or blocks'] };
  const problems = blockProblems(args.blocks, SLACK_LIMITS.messageBlocks, false);
  if (problems.length) return { error: 'invalid_blocks', messages: problems };
  if (textLength(args.blocks) > SLACK_LIMITS.blockText) return { error: 'msg_blocks_too_long', messages: [`${textLength(args.blocks)} characters of block text`] };
  return null;
}

export function modalRefusal(view: Json): Refusal | null {
  if (!view || view.type !== 'modal') return { error: 'invalid_arguments', messages: ['view.type must be modal'] };
  const problems = [
    ...textProblems(view.title, 'title', SLACK_LIMITS.modalTitle, true),
    ...(view.submit ? textProblems(view.submit, 'submit', SLACK_LIMITS.modalButton, true) : []),
    ...(view.close ? textProblems(view.close, 'close', SLACK_LIMITS.modalButton, true) : []),
    ...blockProblems(view.blocks, SLACK_LIMITS.modalBlocks, true),
  ];
  if (typeof view.private_metadata === 'string' && view.private_metadata.length > SLACK_LIMITS.privateMetadata) problems.push('private_metadata too long');
  if (typeof view.callback_id === 'string' && view.callback_id.length > SLACK_LIMITS.callbackId) problems.push('callback_id too long');
  return problems.length ? { error: 'invalid_arguments', messages: problems } : null;
}
