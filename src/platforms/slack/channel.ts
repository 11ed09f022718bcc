/**
 * The Slack channel: a Bolt App, in Socket Mode or HTTP mode, whose listeners turn `/confab`
 * commands, button clicks and modal submissions into core command calls and render what they
 * return. It holds no review state: action ids carry database ids, so a restart loses nothing.
 *
 * Every listener acknowledges first (Slack drops what is not acknowledged within 3 s) and works
 * after. An analysis is posted as a pending message that `chat.update` completes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App, BlockAction, ButtonAction, RespondFn, SlashCommand, ViewSubmitAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { CommandDefinition, CommandResult, ParsedOptions } from '../../../commands/types';
import type { Actor } from '../../core/actor';
import { publicMessageOf, recordPublicMessage } from '../../core/public-messages';
import type { AnalysisFinishedEvent, Services } from '../../core/services';
import type { ItemStateView, View, VoteAckView } from '../../core/view';
import { decodeAction } from './actions';
import { closeExplanationInBlocks, errorMessage, renderView } from './blocks';
import { AcknowledgementGate, boltLogger, HTTP_PATH, normalizeContentType, WEB_API_RETRIES } from './bolt';
import { postDigest } from './digest';
import { deliverFile } from './files';
import { claimsFromBlocks, readNoteOrigin, readNoteSubmission, renderNoteModal } from './modal';
import { SlackConfigError, type SlackConfig } from './module';
import { fitMessage, type Block, type SlackMessage } from './mrkdwn';
import { describeSlackError, SlackPeople, type SlackLog } from './people';
import { commandHelp, parseSlashText } from './slash';

export type InvokeCommand = (services: Services, actor: Actor, commandName: string, rawOptions: ParsedOptions) => Promise<CommandResult>;

export interface SlackChannelOptions {
  services: Services;
  config: SlackConfig;
  commands: readonly CommandDefinition[];
  invoke: InvokeCommand;
  log: SlackLog;
}

export interface RunningSlackChannel {
  mode: 'socket' | 'http';
  /** HTTP mode: the port the receiver listens on (SLACK_PORT, or the one picked for 0). */
  port?: number;
  stop(): Promise<void>;
}

interface PublicMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: Block[];
}

export async function startSlackApp(options: SlackChannelOptions): Promise<RunningSlackChannel> {
  const { services, config, log } = options;
  const { App: BoltApp, HTTPReceiver, SocketModeReceiver } = await import('@slack/bolt');
  const definitions = new Map(options.commands.map((d) => [d.name, d]));
  const clientOptions = { slackApiUrl: config.apiUrl, retryConfig: WEB_API_RETRIES };
  const logger = boltLogger(log);
  const receiver = config.appToken
    ? new SocketModeReceiver({ appToken: config.appToken, logger, installerOptions: { clientOptions } })
    : new HTTPReceiver({ signingSecret: config.signingSecret!, logger, processBeforeResponse: false });
  const app: App = new BoltApp({ token: config.botToken, receiver, clientOptions, logger, deferInitialization: true });
  const client: WebClient = app.client;
  const people = new SlackPeople(client, log);

  const inFlight = new Set<Promise<unknown>>();
  /** Follow-ups being delivered here, by analysis: the core marks a result posted once its delivery ends. */
  const awaitingFollowUp = new Map<number, Promise<void>>();
  const deliveringFollowUp = (analysisId: number | null, delivery: Promise<void>): void => {
    if (analysisId === null) return;
    awaitingFollowUp.set(analysisId, delivery);
    void delivery.finally(() => awaitingFollowUp.get(analysisId) === delivery && awaitingFollowUp.delete(analysisId));
  };
  let stopping = false;
  /**
   * Where this process showed each explanation publicly, with the blocks it posted, so a vote
   * that closes it from elsewhere (/confab review, /confab vote, the Note modal) can reveal the
   * tally there. A cache: the reference is also stored with the analysis, for other processes
   * and for after a restart.
   */
  const publicMessages = new Map<number, PublicMessage>();
  const rememberPublic = (view: View, posted: PublicMessage) => {
    if (view.kind !== 'analysis') return;
    for (const position of view.positions) {
      for (const explanation of position.explanations) {
        publicMessages.delete(explanation.explanationId);
        publicMessages.set(explanation.explanationId, posted);
      }
    }
    for (const key of publicMessages.keys()) {
      if (publicMessages.size <= 10_000) break;
      publicMessages.delete(key);
    }
  };
  /** Claims of explanations this process rendered, so the Note modal opens without a lookup. */
  const claimsSeen = new Map<number, string[]>();
  const rememberClaims = (view: View) => {
    const analysis = view.kind === 'analysis' ? view : view.kind === 'review-item' ? view.analysis : null;
    for (const position of analysis?.positions ?? []) for (const e of position.explanations) claimsSeen.set(e.explanationId, e.claims);
    if (view.kind === 'review-item') claimsSeen.set(view.explanation.explanationId, view.explanation.claims);
    while (claimsSeen.size > 10_000) claimsSeen.delete(claimsSeen.keys().next().value!);
  };
  const render = (view: View): SlackMessage => {
    rememberClaims(view);
    return renderView(view);
  };

  const track = <T>(work: Promise<T>, what: string): void => {
    inFlight.add(work);
    void work
      .catch((error) => log.error(`slack: ${what}: ${describeSlackError(error)}`))
      .finally(() => inFlight.delete(work));
  };
  const gate = new AcknowledgementGate();
  const afterAcks = () => gate.settled();

  // ------------------------------------------------------------ /confab

  app.command('/confab', async ({ command, ack, respond }) => {
    if (stopping) return ack();
    const request = parseSlashText(command.text ?? '', definitions);
    const helpMessage = (lines: string[]) => fitMessage({ text: 'Confab commands', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n') } }] });
    if (request.kind === 'help') {
      const definition = request.definition;
      if (!definition?.liveLimits) {
        await ack({ response_type: 'ephemeral', ...helpMessage(request.lines) });
        return;
      }
      // Limits that follow the model need the worker, which may take longer than the ack's 3 s.
      await ack();
      track(
        (async () => {
          const live = (await definition.liveLimits!(services).catch(() => undefined)) ?? {};
          await respond({ response_type: 'ephemeral', ...helpMessage(commandHelp(definition, live)) });
        })(),
        `/confab help ${definition.name}`,
      );
      return;
    }
    if (request.kind === 'usage-error') {
      const message = errorMessage(request.message, request.lines);
      await ack({ response_type: 'ephemeral', ...message });
      return;
    }
    await ack();
    track(
      (async () => {
        await afterAcks();
        try {
          await runCommand(command, request.name, request.options, respond);
        } catch (error) {
          log.error(`slack: /confab ${request.name} by ${command.user_id} failed: ${describeSlackError(error)}`);
          await respond({ response_type: 'ephemeral', ...errorMessage(`Something went wrong on Confab's side while running /confab ${request.name}; it was logged. Please try again.`) });
        }
      })(),
      `/confab ${request.name}`,
    );
  });

  async function runCommand(command: SlashCommand, name: string, rawOptions: ParsedOptions, respond: RespondFn): Promise<void> {
    const definition = definitions.get(name)!;
    const actor = await people.actorOf({ teamId: command.team_id, channelId: command.channel_id, userId: command.user_id, userName: command.user_name });
    const result = await options.invoke(services, actor, name, rawOptions);
    const view = result.view;
    if (view.kind === 'file') {
      await respond({ response_type: 'ephemeral', ...(await deliverFile(client, view, actor.userId)) });
      return;
    }
    const privately = result.ephemeral || view.kind === 'error' || definition.ephemeral || definition.adminOnly;
    if (privately) {
      await respond({ response_type: 'ephemeral', replace_original: false, ...render(view) });
    } else if (view.kind === 'analysis') {
      await postAnalysis(command.channel_id, view, result.followUp, respond);
      return;
    } else {
      await respond({ response_type: 'in_channel', ...render(view) });
    }
    await revealIfClosed(view, null);
  }

  /** A public analysis: posted pending, completed by chat.update once the worker answers. */
  async function postAnalysis(channel: string, view: View, followUp: Promise<View> | undefined, respond: RespondFn): Promise<void> {
    const analysisId = view.kind === 'analysis' ? view.analysisId : null;
    let markPosted!: () => void;
    // Known as delivered here from the start: the finished event may come while the pending message is still being posted.
    if (followUp) deliveringFollowUp(analysisId, new Promise<void>((resolve) => (markPosted = resolve)));
    let posted: PublicMessage | null = null;
    try {
      posted = await post(channel, view);
    } catch (error) {
      log.warn(`slack: posting analysis ${analysisId} in ${channel} failed: ${describeSlackError(error)}`);
      await respond({ response_type: 'ephemeral', ...errorMessage(cannotPost(error)) });
    }
    if (!followUp) return;
    // Not tracked by stop(): an analysis may take minutes; after a restart the core resumes it
    // and the finished event posts it.
    void followUp
      .then(async (final) => {
        if (stopping) return;
        if (posted) await update(posted, final);
        else await post(channel, final);
      })
      .catch((error) => log.error(`slack: delivering analysis ${analysisId} failed: ${describeSlackError(error)}`))
      .finally(markPosted);
  }

  async function post(channel: string, view: View): Promise<PublicMessage> {
    const message = render(view);
    const sent = await client.chat.postMessage({ channel, text: message.text, blocks: message.blocks as never, unfurl_links: false, unfurl_media: false });
    const posted = { channel: sent.channel ?? channel, ts: sent.ts!, ...message };
    rememberPublic(view, posted);
    if (view.kind === 'analysis') {
      await recordPublicMessage(services, view.analysisId, posted.ts).catch((error) =>
        log.warn(`slack: could not store where analysis ${view.analysisId} was posted (${posted.channel}/${posted.ts}): ${describeSlackError(error)}`),
      );
    }
    return posted;
  }

  async function update(where: { channel: string; ts: string }, view: View): Promise<void> {
    const message = render(view);
    await client.chat.update({ channel: where.channel, ts: where.ts, text: message.text, blocks: message.blocks as never });
    rememberPublic(view, { ...where, ...message });
  }

  // ------------------------------------------------------------ buttons

  // Every action, ours or not: an id this version does not know gets a clear answer, not silence.
  app.action(/.*/, async ({ ack, body, action, respond }) => {
    await ack();
    if (stopping) return;
    const click = body as BlockAction;
    const button = action as ButtonAction;
    const parsed = decodeAction(button.action_id);
    const reply = (message: SlackMessage) =>
      respond ? respond({ response_type: 'ephemeral', replace_original: false, ...message }) : client.chat.postEphemeral({ channel: click.channel?.id ?? '', user: click.user.id, ...message, blocks: message.blocks as never });
    if (!parsed || parsed.kind === 'modal') {
      await reply(errorMessage('This button is from an older version of Confab and no longer works. Run the command again.'));
      return;
    }
    const channelId = click.channel?.id ?? click.container?.channel_id ?? '';
    const messageTs: string | undefined = click.container?.is_ephemeral ? undefined : click.container?.message_ts;
    const messageBlocks = (click.message?.blocks ?? undefined) as Block[] | undefined;
    if (parsed.kind === 'note') {
      // trigger_id lives 3 seconds: the modal opens before anything else is looked up.
      const claims = claimsSeen.get(parsed.explanationId) ?? claimsFromBlocks(messageBlocks, parsed.explanationId);
      try {
        await client.views.open({ trigger_id: click.trigger_id, view: renderNoteModal(parsed.explanationId, claims, { channelId, messageTs }) as never });
      } catch (error) {
        log.warn(`slack: views.open for explanation ${parsed.explanationId} failed: ${describeSlackError(error)}`);
        await reply(errorMessage(`The Note form could not open (${describeSlackError(error)}). Try again, or vote with /confab vote ${parsed.explanationId} <label> <note>.`));
      }
      return;
    }
    const work = (async () => {
      await afterAcks();
      const actor = await people.actorOf({ teamId: click.team?.id ?? click.user.team_id ?? '', channelId, userId: click.user.id, userName: click.user.username });
      if (parsed.kind === 'vote') {
        const result = await options.invoke(services, actor, 'vote', { explanation: parsed.explanationId, label: parsed.label });
        await reply(render(result.view));
        if (messageTs && messageBlocks && result.view.kind === 'vote-ack' && result.view.closedNow) {
          await closeOnMessage({ channel: channelId, ts: messageTs, text: click.message?.text ?? 'Analysis', blocks: messageBlocks }, result.view);
        } else await revealIfClosed(result.view, null);
      } else if (parsed.kind === 'next') {
        const result = await options.invoke(services, actor, 'review', {});
        const message = render(result.view);
        if (respond) await respond({ response_type: 'ephemeral', replace_original: true, ...message });
        else await reply(message);
      } else {
        const result = await options.invoke(services, actor, 'retry', { analysis: parsed.analysisId });
        if (result.ephemeral || result.view.kind === 'error' || !messageTs) {
          await reply(render(result.view));
          return;
        }
        // Retry turns the failed message itself back into the analysis.
        const where = { channel: channelId, ts: messageTs };
        await update(where, result.view);
        if (result.followUp) {
          deliveringFollowUp(
            parsed.analysisId,
            result.followUp
              .then((final) => (stopping ? undefined : update(where, final)))
              .then(() => undefined)
              .catch((error) => log.error(`slack: delivering retried analysis ${parsed.analysisId} failed: ${describeSlackError(error)}`)),
          );
        }
      }
    })().catch(async (error) => {
      log.error(`slack: button ${button.action_id} by ${click.user.id} failed: ${describeSlackError(error)}`);
      await reply(errorMessage("Something went wrong on Confab's side while handling that button; it was logged. Please try again."));
    });
    track(work, `button ${button.action_id}`);
  });

  // ------------------------------------------------------------ the Note modal

  app.view(/^m:/, async ({ ack, body, view }) => {
    const parsed = decodeAction(view.callback_id);
    const submitted = readNoteSubmission(view.state.values as never);
    if (!submitted.label) {
      await ack({ response_action: 'errors', errors: { label: 'Choose Faithful, Confabulated or Unsure.' } });
      return;
    }
    await ack();
    if (stopping || !parsed || parsed.kind !== 'modal') return;
    const submission = body as ViewSubmitAction;
    const origin = readNoteOrigin(view.private_metadata);
    const userId = submission.user.id;
    const channelId = origin?.channelId ?? '';
    const tell = async (message: SlackMessage) => {
      if (!channelId) return log.warn(`slack: a Note on explanation ${parsed.explanationId} came without its channel; ${userId} was not answered.`);
      await client.chat.postEphemeral({ channel: channelId, user: userId, text: message.text, blocks: message.blocks as never });
    };
    const work = (async () => {
      await afterAcks();
      const actor = await people.actorOf({ teamId: submission.team?.id ?? submission.user.team_id ?? '', channelId, userId, userName: submission.user.name });
      const raw: ParsedOptions = { explanation: parsed.explanationId, label: submitted.label };
      if (submitted.note) raw.note = submitted.note;
      if (submitted.claims) raw.claims = submitted.claims;
      const result = await options.invoke(services, actor, 'vote', raw);
      await tell(render(result.view));
      await revealIfClosed(result.view, origin?.messageTs ? { channel: channelId, ts: origin.messageTs } : null);
    })().catch(async (error) => {
      log.error(`slack: Note on explanation ${parsed.explanationId} by ${userId} failed: ${describeSlackError(error)}`);
      await tell(errorMessage("Something went wrong on Confab's side while saving your note; it was logged. Please try again."));
    });
    track(work, `Note on explanation ${parsed.explanationId}`);
  });

  /** An item closed (a vote, or an admin's /confab close): show its tally on the public message. */
  async function revealIfClosed(view: View, where: { channel: string; ts: string } | null): Promise<void> {
    let item: Pick<VoteAckView, 'explanationId' | 'tally'> | null = null;
    if (view.kind === 'vote-ack' && view.closedNow) item = view;
    if (view.kind === 'message' && view.item?.state === 'closed') item = view.item as ItemStateView;
    if (!item) return;
    const known = publicMessages.get(item.explanationId);
    if (known) {
      if (!where || (known.channel === where.channel && known.ts === where.ts)) await closeOnMessage(known, item);
      return;
    }
    // Posted before a restart, or by another process: the stored reference says where, and the
    // message is rendered afresh from the database.
    try {
      const stored = await publicMessageOf(services, item.explanationId);
      if (!stored || stored.platform !== 'slack') return;
      if (where && (stored.channelId !== where.channel || stored.messageRef !== where.ts)) return;
      await update({ channel: stored.channelId, ts: stored.messageRef }, stored.view);
    } catch (error) {
      // The vote is stored either way; only the public tally is missing, which /confab stats shows.
      log.warn(`slack: could not show the closed tally of explanation ${item.explanationId} on its public message: ${describeSlackError(error)}`);
    }
  }

  async function closeOnMessage(message: PublicMessage, item: Pick<VoteAckView, 'explanationId' | 'tally'>): Promise<void> {
    const blocks = closeExplanationInBlocks(message.blocks, item);
    try {
      await client.chat.update({ channel: message.channel, ts: message.ts, text: message.text, blocks: blocks as never });
      for (const [id, known] of publicMessages) if (known.ts === message.ts && known.channel === message.channel) publicMessages.set(id, { ...known, blocks });
    } catch (error) {
      // The vote is stored either way; only the public tally is missing, which /confab stats shows.
      log.warn(`slack: could not show the closed tally on ${message.channel}/${message.ts}: ${describeSlackError(error)}`);
    }
  }

  // ------------------------------------------------------------ analyses finished elsewhere

  const unsubscribe = services.events.onAnalysisFinished(async (event: AnalysisFinishedEvent) => {
    if (stopping || event.platform !== 'slack') return;
    const delivering = awaitingFollowUp.get(event.analysisId);
    if (delivering) return delivering;
    if (event.followUpPending) return;
    await post(event.channelId, event.view).catch((error) => log.warn(`slack: posting analysis ${event.analysisId} in ${event.channelId} failed: ${describeSlackError(error)}`));
  }, 'slack');

  app.error(async (error) => {
    log.error(`slack: ${describeSlackError(error)}`);
  });

  // ------------------------------------------------------------ lifecycle

  let server: http.Server | undefined;
  try {
    try {
      await app.init();
    } catch (error) {
      throw new SlackConfigError(`Slack refused SLACK_BOT_TOKEN (auth.test: ${describeSlackError(error)}). Copy the Bot User OAuth Token again from the OAuth & Permissions page of your app.`);
    }
    if (config.appToken) {
      try {
        await app.start();
      } catch (error) {
        throw new SlackConfigError(`Slack Socket Mode did not connect (${describeSlackError(error)}). Check SLACK_APP_TOKEN: an app-level token (xapp-…) with the connections:write scope.`);
      }
    } else {
      const listener = (receiver as InstanceType<typeof HTTPReceiver>).requestListener;
      server = http.createServer((req, res) => {
        gate.track(res);
        normalizeContentType(req);
        listener(req, res);
      });
      await new Promise<void>((resolve, reject) => {
        server!.once('error', reject);
        server!.listen(config.port, () => resolve());
      });
    }
  } catch (error) {
    unsubscribe();
    throw error;
  }
  // Subscribed once connected: adding a listener makes the scheduler post any due digest at once.
  const stopDigests = services.events.onDigest('slack', (event) => (stopping ? false : postDigest(client, event, log)));
  const port = server ? (server.address() as AddressInfo).port : undefined;
  log.info(config.appToken ? 'slack: connected in Socket Mode.' : `slack: listening on port ${port} (POST ${HTTP_PATH}).`);

  return {
    mode: config.appToken ? 'socket' : 'http',
    port,
    async stop() {
      if (stopping) return;
      stopping = true;
      unsubscribe();
      stopDigests();
      // Let acknowledgements and replies already started finish, but do not hang a shutdown.
      await Promise.race([Promise.allSettled([...inFlight]), new Promise((r) => setTimeout(r, 10_000).unref())]);
      if (server) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        server.closeAllConnections();
        await closed;
      } else {
        await app.stop().catch((error) => log.warn(`slack: stopping Socket Mode: ${describeSlackError(error)}`));
      }
    },
  };
}

function cannotPost(error: unknown): string {
  const code = describeSlackError(error);
  if (code === 'not_in_channel' || code === 'channel_not_found') {
    return `Confab cannot post in this channel (${code}). Invite it with /invite @Confab, then run the command again; the analysis is saved and will be posted here when it finishes.`;
  }
  return `Slack refused the message (${code}). The analysis is saved; it will be posted when it finishes.`;
}
