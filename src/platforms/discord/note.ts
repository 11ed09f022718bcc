/**
 * The Note form, and a public message updated when one of its explanations closes. Both work
 * from the message alone, with no lookup, so they answer within Discord's 3-second window and
 * also work on messages posted before a restart.
 */
import type { APIActionRowComponent, APIComponentInMessageActionRow, APIEmbed, APIEmbedField, APIModalInteractionResponseCallbackData, APISelectMenuOption } from 'discord.js';
import { actionExplanationId, decodeAction, encodeAction, VOTE_LABELS } from '../../core/actions';
import type { VoteAckView } from '../../core/view';
import { truncate } from '../../render/text';
import { unescapeUserText } from './escape';
import { COLORS, explanationFooter, field, fitMessage, LABEL_NAMES, LIMITS, NO_MENTIONS, tallyLine, type DiscordMessage } from './message';

/** Field ids inside the note modal (one modal, so short names suffice). */
export const MODAL_FIELDS = { label: 'label', note: 'note', claims: 'claims' } as const;

/**
 * The Note modal: the reviewer's label, a free-text note, and a multi-select of the
 * explanation's claims to mark as wrong. discord.js 14.28 supports a string select inside a
 * modal through the Label component (type 18), which Discord requires for selects in modals.
 */
export function renderNoteModal(explanationId: number, claims: string[]): APIModalInteractionResponseCallbackData {
  const options: APISelectMenuOption[] = claims.slice(0, LIMITS.selectOptions).map((claim, i) => ({
    label: truncate(`${i + 1}. ${claim.replace(/\s+/g, ' ').trim() || '(empty)'}`, LIMITS.selectOptionText),
    value: String(i + 1),
  }));
  const components: APIModalInteractionResponseCallbackData['components'] = [
    {
      type: 18,
      label: 'Your vote',
      component: {
        type: 3,
        custom_id: MODAL_FIELDS.label,
        min_values: 1,
        max_values: 1,
        required: true,
        options: VOTE_LABELS.map((l) => ({ label: LABEL_NAMES[l], value: l })),
      },
    },
    {
      type: 18,
      label: 'Note',
      description: 'What is right or wrong about this explanation (optional).',
      component: { type: 4, custom_id: MODAL_FIELDS.note, style: 2, required: false, max_length: 1000 },
    },
  ];
  if (options.length > 0) {
    components.push({
      type: 18,
      label: 'Claims that are wrong',
      description: truncate(
        claims.length > LIMITS.selectOptions ? `The first ${LIMITS.selectOptions} of ${claims.length} claims.` : 'Pick any that the activation does not support.',
        LIMITS.modalLabelDescription,
      ),
      component: {
        type: 3,
        custom_id: MODAL_FIELDS.claims,
        min_values: 0,
        max_values: options.length,
        required: false,
        placeholder: 'No claim marked',
        options,
      },
    });
  }
  return { custom_id: encodeAction({ kind: 'modal', explanationId }), title: truncate(`Note on explanation #${explanationId}`, LIMITS.modalTitle), components };
}

/** An explanation's claims, read back from the Claims field rendered on its message. */
export function claimsFromMessage(embeds: APIEmbed[], explanationId: number): string[] {
  const embed = embeds.find((e) => e.footer?.text === explanationFooter(explanationId));
  const claimsField = embed?.fields?.find((f) => f.name === 'Claims');
  if (!claimsField) return [];
  return claimsField.value
    .split('\n')
    .map((line) => /^(\d+)\. (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => unescapeUserText(m[2]));
}

type PublicMessage = { embeds: APIEmbed[]; components: Array<APIActionRowComponent<APIComponentInMessageActionRow>> };

/** An explanation closed: add its tally to its embed on the public message and disable its buttons. */
export function closeExplanationOnMessage(message: PublicMessage, ack: Pick<VoteAckView, 'explanationId' | 'tally'>): DiscordMessage {
  const winner = ack.tally.faithful === ack.tally.confabulated ? 'undecided' : ack.tally.faithful > ack.tally.confabulated ? 'faithful' : 'confabulated';
  return setExplanationState(message, ack.explanationId, field('Votes (closed)', `${tallyLine(ack.tally)} — **${winner}**`), COLORS.closed, true);
}

/** An explanation reopened (/reopen): its tally goes back to "so far", its buttons work again. */
export function reopenExplanationOnMessage(message: PublicMessage, item: Pick<VoteAckView, 'explanationId' | 'tally'>): DiscordMessage {
  return setExplanationState(message, item.explanationId, field('Votes so far', tallyLine(item.tally)), COLORS.success, false);
}

function setExplanationState(message: PublicMessage, explanationId: number, votes: APIEmbedField, color: number, disabled: boolean): DiscordMessage {
  const footer = explanationFooter(explanationId);
  const embeds = message.embeds.map((e) => {
    if (e.footer?.text !== footer) return e;
    const fields = (e.fields ?? []).filter((f) => !f.name.startsWith('Votes'));
    fields.push(votes);
    return { ...e, color, fields };
  });
  const components = message.components.map((row) => ({
    ...row,
    components: row.components.map((c) => {
      const action = 'custom_id' in c ? decodeAction(c.custom_id) : null;
      return action && actionExplanationId(action) === explanationId ? { ...c, disabled } : c;
    }),
  }));
  return fitMessage({ embeds, components, allowedMentions: NO_MENTIONS });
}