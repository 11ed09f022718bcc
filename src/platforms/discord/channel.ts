/**
 * The Discord channel: a discord.js gateway client that turns interactions into core command
 * calls and renders the view models they return. It holds no review state of its own; button
 * ids carry database ids, so a restart loses nothing.
 *
 * Timing rules it is built around (platforms.md):
 * - every interaction is acknowledged first (defer), before any database or worker work, because
 *   Discord drops interactions not answered within 3 s ("The application did not respond");
 * - an interaction token lives 15 minutes; a result that arrives later, or whose edit fails with
 *   Unknown Webhook (10015), is posted as a new channel message instead.
 */
import {
  Client,
  Events,
  GatewayIntentBits,
  MessageFlags,
  PermissionFlagsBits,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Interaction,
  type Message,
  type ModalSubmitInteraction,
  type RepliableInteraction,
  type SendableChannels,
} from 'discord.js';
import type { CommandDefinition, CommandResult, ParsedOptions } from '../../../commands/types';
import type { Actor } from '../../core/actor';
import { decodeAction } from '../../core/actions';
import { publicMessageOf, recordPublicMessage } from '../../core/public-messages';
import type { AnalysisFinishedEvent, Services } from '../../core/services';
import type { View, VoteAckView } from '../../core/view';
import type { Logger } from '../../log';
import { actionCall, noteFormCall } from '../actions';
import type { InvokeCommand } from '../channel';
import { coreNameOf, registerDiscordCommands } from './commands';
import type { DiscordConfig } from './config';
import { AcknowledgementsFirst, describe, interactionLabel, isApiError, isExpiredToken, readField, toReply } from './interactions';
import type { DiscordMessage } from './message';
import { claimsFromMessage, closeExplanationOnMessage, MODAL_FIELDS, renderNoteModal, reopenExplanationOnMessage } from './note';
import { postDigest } from './digest';
import { errorMessage, renderView } from './render';

export interface DiscordChannelOptions {
  services: Services;
  config: DiscordConfig;
  commands: readonly CommandDefinition[];
  invoke: InvokeCommand;
  logger: Logger;
}

export interface RunningDiscordChannel {
  client: Client;
  /** Disconnects after the acknowledgements in flight are sent; analyses keep running in the core. */
  stop(): Promise<void>;
}

/** Discord's interaction token lifetime. */
const TOKEN_LIFETIME_MS = 15 * 60_000;
/** Stop using the token a little early: an edit started at 14:59 may land after 15:00. */
const TOKEN_MARGIN_MS = 30_000;

export async function startDiscordClient(options: DiscordChannelOptions): Promise<RunningDiscordChannel> {
  const { services, config } = options;
  const log = options.logger.child({ name: 'discord' });
  const definitions = new Map(options.commands.map((d) => [d.name, d]));
  // Only Guilds: interactions arrive regardless of intents, and Guilds gives the channel cache
  // needed to post a result as a new message. No privileged intents.
  const client = new Client({
    intents: [GatewayIntentBits.Guilds],
    rest: config.apiBase ? { api: config.apiBase } : {},
  });
  const acks = new AcknowledgementsFirst();
  /** Acknowledgement work in flight, awaited by stop(). */
  const inFlight = new Set<Promise<unknown>>();
  /** Analyses whose result this process delivers through a follow-up (not the finished event). */
  /** Follow-ups being delivered here, by analysis: the core marks a result posted once its delivery ends. */
  const awaitingFollowUp = new Map<number, Promise<void>>();
  let stopping = false;
  /**
   * Where each explanation is shown publicly, so a vote that closes it from elsewhere (/review,
   * /vote) can still reveal the tally there: remembered here, and kept in the database for other
   * processes and after a restart.
   */
  const publicMessages = new Map<number, { channelId: string; messageId: string }>();
  const rememberPublic = (view: View, sent: { id: string; channelId: string } | null | undefined) => {
    if (!sent || view.kind !== 'analysis') return;
    void recordPublicMessage(services, view.analysisId, sent.id).catch((error: unknown) => log.warn(`could not record where analysis ${view.analysisId} is shown: ${describe(error)}`));
    for (const position of view.positions) {
      for (const explanation of position.explanations) {
        publicMessages.delete(explanation.explanationId);
        publicMessages.set(explanation.explanationId, { channelId: sent.channelId, messageId: sent.id });
      }
    }
    // Oldest first in a Map: keep the index bounded.
    for (const key of publicMessages.keys()) {
      if (publicMessages.size <= 10_000) break;
      publicMessages.delete(key);
    }
  };

  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => undefined);
    return work;
  };

  client.on(Events.InteractionCreate, (interaction) => {
    if (stopping) return;
    void track(handleInteraction(interaction)).catch((error) => log.error(`interaction ${interaction.id}: ${describe(error)}`));
  });
  client.on(Events.Error, (error) => log.error(`client error: ${describe(error)}`));
  client.on(Events.Warn, (message) => log.warn(`${message}`));

  const unsubscribe = services.events.onAnalysisFinished((event) => deliverFinishedElsewhere(event), 'discord');

  async function handleInteraction(interaction: Interaction): Promise<void> {
    try {
      if (interaction.isChatInputCommand()) await onSlashCommand(interaction);
      else if (interaction.isButton()) await onButton(interaction);
      else if (interaction.isModalSubmit()) await onModalSubmit(interaction);
    } catch (error) {
      log.error(`interaction ${interaction.id} (${interactionLabel(interaction)}) failed: ${describe(error)}`);
      if (interaction.isRepliable()) {
        await sendError(
          interaction,
          `Something went wrong on Confab's side while handling ${interactionLabel(interaction)}. It was logged as interaction ${interaction.id}; please try again.`,
        ).catch((e) => log.warn(`could not report the error for interaction ${interaction.id}: ${describe(e)}`));
      }
    }
  }

  function actorOf(interaction: Interaction): Actor {
    const member = interaction.member;
    let roles: string[] = [];
    if (member) roles = Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
    const displayName =
      (member && 'displayName' in member ? member.displayName : null) ??
      (member && 'nick' in member ? member.nick : null) ??
      interaction.user.globalName ??
      interaction.user.username;
    return {
      platform: 'discord',
      workspaceId: interaction.guildId ?? `dm:${interaction.user.id}`,
      channelId: interaction.channelId ?? `dm:${interaction.user.id}`,
      userId: interaction.user.id,
      displayName,
      // Manage Server is what /confab-settings requires by default; it is also Discord's usual
      // meaning of "server admin".
      isAdmin: interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false,
      roles,
    };
  }

  function replyRefOf(interaction: Interaction) {
    return {
      interactionToken: 'token' in interaction ? interaction.token : undefined,
      messageId: interaction.id,
      expiresAt: new Date(interaction.createdTimestamp + TOKEN_LIFETIME_MS),
    };
  }

  // ------------------------------------------------------------ slash commands

  async function onSlashCommand(interaction: ChatInputCommandInteraction): Promise<void> {
    const coreName = coreNameOf(interaction.commandName);
    const definition = definitions.get(coreName);
    if (!definition) {
      await interaction.reply({
        ...toReply(errorMessage(`/${interaction.commandName} is not a Confab command in this version. Run \`confab discord register\` to refresh the command list.`)),
        flags: MessageFlags.Ephemeral,
      });
      return;
    }
    const ephemeral = Boolean(definition.ephemeral || definition.adminOnly);
    // Acknowledge first: nothing below may delay the 3-second deadline.
    await acks.send(() => interaction.deferReply(ephemeral ? { flags: MessageFlags.Ephemeral } : {}));
    await acks.settled();

    const rawOptions: ParsedOptions = {};
    for (const option of interaction.options.data) {
      if (option.value !== undefined && option.value !== null) rawOptions[option.name] = option.value as string | number | boolean;
    }
    const result = await options.invoke(services, actorOf(interaction), coreName, rawOptions, replyRefOf(interaction));
    await showResult(interaction, result, ephemeral);
  }

  /**
   * Show a command's result in the deferred reply. Errors and private results go to the actor
   * alone: a public deferral is deleted and replaced by an ephemeral follow-up.
   */
  async function showResult(interaction: RepliableInteraction, result: CommandResult, deferredEphemeral: boolean): Promise<void> {
    const privately = result.ephemeral || result.view.kind === 'error';
    const message = renderView(result.view, { attachmentSizeLimit: interaction.attachmentSizeLimit });
    if (privately && !deferredEphemeral) {
      await interaction.deleteReply().catch(() => undefined);
      await interaction.followUp({ ...toReply(message), flags: MessageFlags.Ephemeral });
    } else {
      try {
        const sent = await editWithFileFallback(interaction, result.view, message);
        if (!deferredEphemeral) rememberPublic(result.view, sent);
      } catch (error) {
        // The pending view is lost, but the analysis is not: it is still delivered below.
        if (!result.followUp || !isExpiredToken(error)) throw error;
        log.info(`interaction ${interaction.id} expired before its pending reply was shown.`);
      }
    }
    if (result.view.kind === 'vote-ack' && result.view.closedNow) await revealClosedTally(result.view, null);
    // An admin's /close reveals the tally on the public message just as a closing vote does;
    // /reopen takes it back and makes the buttons work again.
    if (result.view.kind === 'message' && result.view.item) {
      const item = result.view.item;
      await revealClosedTally(item, null, item.state === 'open' ? reopenExplanationOnMessage : closeExplanationOnMessage);
    }
    if (result.followUp) {
      const analysisId = result.view.kind === 'analysis' ? result.view.analysisId : null;
      // Not tracked by stop(): an analysis may take minutes. If the process stops first, the
      // core resumes it after the restart and `onAnalysisFinished` posts it as a new message.
      const delivery: Promise<void> = result.followUp
        .then((view) => deliverFollowUp(interaction, view))
        .catch((error) => log.error(`interaction ${interaction.id}: delivering the analysis failed: ${describe(error)}`))
        .finally(() => {
          if (analysisId !== null && awaitingFollowUp.get(analysisId) === delivery) awaitingFollowUp.delete(analysisId);
        });
      if (analysisId !== null) awaitingFollowUp.set(analysisId, delivery);
    }
  }

  /** Attach a file when it fits; when Discord refuses it anyway (413 / 40005), say where it is. */
  async function editWithFileFallback(interaction: RepliableInteraction, view: View, message: DiscordMessage): Promise<Message> {
    try {
      return await interaction.editReply(toReply(message));
    } catch (error) {
      if (view.kind === 'file' && message.files && (isApiError(error, 40005) || (error as { status?: number }).status === 413)) {
        return interaction.editReply(toReply(renderView(view, { attachmentSizeLimit: 0 })));
      }
      throw error;
    }
  }

  /** The analysis finished: edit the original reply while its token lives, else post anew. */
  async function deliverFollowUp(interaction: RepliableInteraction, view: View): Promise<void> {
    if (stopping) return;
    const message = renderView(view);
    const expiresAt = interaction.createdTimestamp + TOKEN_LIFETIME_MS - TOKEN_MARGIN_MS;
    if (Date.now() < expiresAt) {
      try {
        const sent = await interaction.editReply(toReply(message));
        if (!interaction.ephemeral) rememberPublic(view, sent);
        return;
      } catch (error) {
        if (!isExpiredToken(error)) throw error;
        log.info(`interaction ${interaction.id} expired before its analysis finished; posting a new message.`);
      }
    }
    if (interaction.channelId) rememberPublic(view, await postToChannel(interaction.channelId, message));
  }

  /**
   * Finished analyses this process is not already delivering: resumed after a restart, or run by
   * another process's dispatcher. Posted as a new message in the channel they came from.
   */
  async function deliverFinishedElsewhere(event: AnalysisFinishedEvent): Promise<void> {
    if (stopping || event.platform !== 'discord') return;
    const delivering = awaitingFollowUp.get(event.analysisId);
    if (delivering) return delivering;
    if (event.followUpPending) return;
    // Not posted yet: thrown, so the result stays owed and is posted once Discord is back.
    if (!client.isReady()) throw new Error('the Discord connection is not ready');
    rememberPublic(event.view, await postToChannel(event.channelId, renderView(event.view)));
  }

  async function postToChannel(channelId: string, message: DiscordMessage): Promise<Message | null> {
    const channel = client.channels.cache.get(channelId) ?? (await client.channels.fetch(channelId).catch(() => null));
    if (!channel || !channel.isSendable()) {
      log.warn(`cannot post to channel ${channelId} (not visible to the bot or not a text channel).`);
      return null;
    }
    return (channel as SendableChannels).send(toReply(message));
  }

  // ------------------------------------------------------------ buttons

  async function onButton(interaction: ButtonInteraction): Promise<void> {
    const action = decodeAction(interaction.customId);
    if (!action || action.kind === 'modal') {
      await interaction.reply({ ...toReply(errorMessage('This button is from an older version of Confab and no longer works. Run the command again.')), flags: MessageFlags.Ephemeral });
      return;
    }
    if (action.kind === 'note') {
      // A modal must be the first response (no defer), so its content comes from the message itself.
      const claims = claimsFromMessage(interaction.message.embeds.map((e) => e.toJSON()), action.explanationId);
      await interaction.showModal(renderNoteModal(action.explanationId, claims));
      return;
    }
    const call = actionCall(action);
    if (!definitions.has(call.command)) {
      await interaction.reply({ ...toReply(errorMessage(`/${call.command} is not available in this version of Confab.`)), flags: MessageFlags.Ephemeral });
      return;
    }
    if (call.reply === 'replace') {
      // A deferred update makes the pressed message the one `editReply` changes, so a retried
      // analysis replaces its failure and no stale button stays behind.
      await acks.send(() => interaction.deferUpdate());
      await acks.settled();
      const result = await options.invoke(services, actorOf(interaction), call.command, call.options, replyRefOf(interaction));
      if (result.ephemeral || result.view.kind === 'error') {
        await interaction.followUp({ ...toReply(renderView(result.view)), flags: MessageFlags.Ephemeral });
        return;
      }
      await showResult(interaction, result, false);
      return;
    }
    // Acknowledged privately at once, then the answer (a vote's confirmation and tally).
    await acks.send(() => interaction.deferReply({ flags: MessageFlags.Ephemeral }));
    await acks.settled();
    const result = await options.invoke(services, actorOf(interaction), call.command, call.options);
    await afterVote(interaction, result);
  }

  async function onModalSubmit(interaction: ModalSubmitInteraction): Promise<void> {
    const action = decodeAction(interaction.customId);
    if (!action || action.kind !== 'modal') {
      await interaction.reply({ ...toReply(errorMessage('This form is from an older version of Confab. Press Note again.')), flags: MessageFlags.Ephemeral });
      return;
    }
    await acks.send(() => interaction.deferReply({ flags: MessageFlags.Ephemeral }));
    await acks.settled();
    const call = noteFormCall(action.explanationId, {
      label: interaction.fields.getStringSelectValues(MODAL_FIELDS.label)[0],
      note: readField(() => interaction.fields.getTextInputValue(MODAL_FIELDS.note)),
      claims: readField(() => interaction.fields.getStringSelectValues(MODAL_FIELDS.claims)),
    });
    const result = await options.invoke(services, actorOf(interaction), call.command, call.options);
    await afterVote(interaction, result);
  }

  /** Show the private acknowledgement; when this vote closed the item, reveal the tally publicly. */
  async function afterVote(interaction: ButtonInteraction | ModalSubmitInteraction, result: CommandResult): Promise<void> {
    await interaction.editReply(toReply(renderView(result.view)));
    if (result.view.kind === 'vote-ack' && result.view.closedNow) await revealClosedTally(result.view, interaction);
  }

  /**
   * An item closed (or reopened): show it on the public message. That is the message the vote
   * came from when it is public, else the one this process remembers showing the explanation on.
   */
  async function revealClosedTally(
    ack: Pick<VoteAckView, 'explanationId' | 'tally'>,
    interaction: ButtonInteraction | ModalSubmitInteraction | null,
    edit: typeof closeExplanationOnMessage = closeExplanationOnMessage,
  ): Promise<void> {
    let message: Message | null = interaction?.message && !interaction.message.flags.has(MessageFlags.Ephemeral) ? interaction.message : null;
    if (!message) {
      let where = publicMessages.get(ack.explanationId);
      if (!where) {
        const stored = await publicMessageOf(services, ack.explanationId).catch(() => null);
        if (stored?.platform === 'discord') where = { channelId: stored.channelId, messageId: stored.messageRef };
      }
      const channel = where ? (client.channels.cache.get(where.channelId) ?? (await client.channels.fetch(where.channelId).catch(() => null))) : undefined;
      if (!where || !channel || !channel.isTextBased()) return;
      message = await channel.messages.fetch(where.messageId).catch(() => null);
      if (!message) return;
    }
    const closed = edit(
      { embeds: message.embeds.map((e) => e.toJSON()), components: message.components.map((c) => c.toJSON()) as never },
      ack,
    );
    try {
      await message.edit(toReply(closed));
    } catch (error) {
      // The channel route needs the bot to see the channel; the application's webhook does not.
      try {
        if (!interaction) throw error;
        await interaction.webhook.editMessage(message.id, toReply(closed));
      } catch {
        // The vote is stored either way; only the public tally is missing, which /stats shows.
        log.warn(`could not show the item's state on message ${message.id}: ${describe(error)}`);
      }
    }
  }

  async function sendError(interaction: RepliableInteraction, text: string): Promise<void> {
    const message = { ...toReply(errorMessage(text)), flags: MessageFlags.Ephemeral as const };
    if (!interaction.deferred && !interaction.replied) {
      await interaction.reply(message);
    } else if (interaction.ephemeral) {
      await interaction.editReply(toReply(errorMessage(text)));
    } else {
      await interaction.deleteReply().catch(() => undefined);
      await interaction.followUp(message);
    }
  }

  // ------------------------------------------------------------ lifecycle

  try {
    await new Promise<void>((resolve, reject) => {
      client.once(Events.ClientReady, () => resolve());
      client.login(config.token).catch(reject);
    });
  } catch (error) {
    unsubscribe();
    await client.destroy();
    if ((error as { code?: string }).code === 'TokenInvalid') {
      throw new Error('Discord refused DISCORD_TOKEN (401 at login). Copy the token again from the Bot page of your application.');
    }
    throw error;
  }
  log.info(`connected as ${client.user?.tag ?? 'unknown'} in ${client.guilds.cache.size} server(s).`);
  if (config.registerOnStart) {
    const registered = await registerDiscordCommands(config, { commands: options.commands });
    log.info(`registered ${registered.names.length} ${registered.scope} commands${registered.guildId ? ` in guild ${registered.guildId}` : ''}.`);
  }

  const stopDigests = services.events.onDigest('discord', (event) => postDigest(client, event, log));

  return {
    client,
    async stop() {
      if (stopping) return;
      stopping = true;
      unsubscribe();
      stopDigests();
      // Let acknowledgements and edits already started finish, but do not hang a shutdown.
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 10_000).unref())]);
      await client.destroy();
    },
  };
}
