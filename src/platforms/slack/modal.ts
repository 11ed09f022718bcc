/**
 * The Note… modal: the reviewer's label, a note, and checkboxes for the explanation's claims.
 * Slack allows 10 checkboxes per group, 75 characters per option, 24 per title.
 */
import { plural, truncate } from '../../render/text';
import { encodeAction } from './actions';
import { blockIds, LABEL_NAMES } from './blocks';
import { fitBlocks, LIMITS, mrkdwn, plainText, unescapeMrkdwn, type Block } from './mrkdwn';

export const NOTE_FIELDS = { label: 'label', note: 'note', claims: 'claims' } as const;
export const NOTE_MAX_LENGTH = 1000;

/** Where the Note was opened, so the submission can answer there and update the public message. */
export interface NoteOrigin {
  channelId: string;
  /** The public message the button was on; absent for ephemeral messages. */
  messageTs?: string;
}

export function renderNoteModal(explanationId: number, claims: string[], origin: NoteOrigin): Record<string, unknown> {
  const blocks: Block[] = [
    {
      type: 'input',
      block_id: NOTE_FIELDS.label,
      label: plainText('Your vote', LIMITS.inputLabel),
      element: {
        type: 'radio_buttons',
        action_id: NOTE_FIELDS.label,
        options: (['faithful', 'confabulated', 'unsure'] as const).map((l) => ({ text: plainText(LABEL_NAMES[l], LIMITS.optionText), value: l })),
      },
    },
    {
      type: 'input',
      block_id: NOTE_FIELDS.note,
      optional: true,
      label: plainText('Note', LIMITS.inputLabel),
      hint: plainText(`What is right or wrong about this explanation (up to ${NOTE_MAX_LENGTH} characters).`, LIMITS.inputLabel),
      element: { type: 'plain_text_input', action_id: NOTE_FIELDS.note, multiline: true, max_length: NOTE_MAX_LENGTH },
    },
  ];
  const shown = claims.slice(0, LIMITS.checkboxOptions);
  if (shown.length > 0) {
    blocks.push({
      type: 'input',
      block_id: NOTE_FIELDS.claims,
      optional: true,
      label: plainText('Claims that are wrong', LIMITS.inputLabel),
      element: {
        type: 'checkboxes',
        action_id: NOTE_FIELDS.claims,
        options: shown.map((claim, i) => ({ text: plainText(`${i + 1}. ${claim}`, LIMITS.optionText), value: String(i + 1) })),
      },
    });
    if (claims.length > shown.length) {
      blocks.push({ type: 'context', elements: [mrkdwn(`The first ${shown.length} of ${plural(claims.length, 'claim')}; name the others in the note.`)] });
    }
  } else {
    blocks.push({ type: 'context', elements: [mrkdwn('No claims to mark here; name wrong claims in the note.')] });
  }
  return {
    type: 'modal',
    callback_id: encodeAction({ kind: 'modal', explanationId }),
    title: plainText(`Note on #${explanationId}`, LIMITS.modalTitle),
    submit: plainText('Vote', LIMITS.modalButton),
    close: plainText('Cancel', LIMITS.modalButton),
    private_metadata: truncate(JSON.stringify(origin), LIMITS.privateMetadata, ''),
    blocks: fitBlocks(blocks, LIMITS.modalBlocks),
  };
}

export function readNoteOrigin(metadata: string | undefined): NoteOrigin | null {
  try {
    const parsed = JSON.parse(metadata ?? '') as Partial<NoteOrigin>;
    if (typeof parsed.channelId !== 'string') return null;
    return { channelId: parsed.channelId, messageTs: typeof parsed.messageTs === 'string' ? parsed.messageTs : undefined };
  } catch {
    return null;
  }
}

type StateValues = Record<string, Record<string, { selected_option?: { value: string } | null; selected_options?: Array<{ value: string }>; value?: string | null }>>;

/** The submitted label, note and claim numbers, as the vote command's raw options. */
export function readNoteSubmission(values: StateValues): { label?: string; note?: string; claims?: string } {
  const label = values[NOTE_FIELDS.label]?.[NOTE_FIELDS.label]?.selected_option?.value;
  const note = values[NOTE_FIELDS.note]?.[NOTE_FIELDS.note]?.value ?? undefined;
  const claims = (values[NOTE_FIELDS.claims]?.[NOTE_FIELDS.claims]?.selected_options ?? []).map((o) => o.value);
  return { label, note: note?.trim() ? note : undefined, claims: claims.length ? claims.join(',') : undefined };
}

/** Read an explanation's claims back from the claims block we rendered on a message. */
export function claimsFromBlocks(blocks: Block[] | undefined, explanationId: number): string[] {
  const block = blocks?.find((b) => b.block_id === blockIds.claims(explanationId));
  const text = (block?.text as { text?: string } | undefined)?.text;
  if (!text) return [];
  return text
    .split('\n')
    .map((line) => /^(\d+)\. (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => unescapeMrkdwn(m[2]));
}
