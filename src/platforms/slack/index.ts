/**
 * The Slack channel's entry points: the channel module (`slackChannel`), and `startChannel`,
 * which the channel registry (src/platforms/index.ts) calls today. Bolt is imported inside
 * `start()`, so a terminal session never loads it.
 */
import type { Services } from '../../core/services';
import type { Logger } from '../../log';
import type { ChannelLog, RunningChannel } from '../index';
import { configureSlack, describeSlack, SLACK_VARIABLES, type ChannelModule, type SlackConfig } from './module';
import type { SlackLog } from './people';

export { configureSlack, describeSlack, SLACK_VARIABLES, type SlackConfig } from './module';

/** pino takes (message) like the channel log does; this pins the one form the channel uses. */
function channelLogOf(logger: Logger | ChannelLog): SlackLog {
  return {
    debug: (m) => logger.debug(m),
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
  };
}

async function start(context: { services: Services; config: SlackConfig; logger: Logger | ChannelLog }): Promise<RunningChannel> {
  const [{ allCommands }, { invokeCommand }, { startSlackApp }] = await Promise.all([
    import('../../../commands/index'),
    import('../../core/invoke'),
    import('./channel'),
  ]);
  const running = await startSlackApp({ services: context.services, config: context.config, commands: allCommands, invoke: invokeCommand, log: channelLogOf(context.logger) });
  return { stop: () => running.stop() };
}

export const slackChannel: ChannelModule<SlackConfig> = {
  name: 'slack',
  variables: SLACK_VARIABLES,
  configure: configureSlack,
  describe: describeSlack,
  start,
};

/** The registry's entry point today: `confab start` calls this when SLACK_BOT_TOKEN is set. */
export async function startChannel(services: Services, log: ChannelLog): Promise<RunningChannel> {
  const slack = services.config.slack;
  if (!slack) throw new Error('SLACK_BOT_TOKEN and SLACK_APP_TOKEN or SLACK_SIGNING_SECRET must be set to start the Slack channel.');
  const config = configureSlack({
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_APP_TOKEN: slack.appToken,
    SLACK_SIGNING_SECRET: slack.signingSecret,
    SLACK_PORT: String(slack.port),
    SLACK_API_URL: slack.apiUrl,
  })!;
  return start({ services, config, logger: log });
}
