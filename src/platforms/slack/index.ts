/**
 * The Slack channel as a module (`slackChannel`), listed in the channel registry. Bolt is
 * imported inside `start()`, so a terminal session never loads it.
 */
import type { Services } from '../../core/services';
import type { Logger } from '../../log';
import type { ChannelModule, RunningChannel } from '../channel';
import { configureSlack, describeSlack, SLACK_VARIABLES, type SlackConfig } from './module';
import type { SlackLog } from './people';

export { configureSlack, describeSlack, SLACK_VARIABLES, type SlackConfig } from './module';

/** The one logging form the channel's files use, taken from the program's logger. */
function channelLogOf(logger: Logger): SlackLog {
  return {
    debug: (m) => logger.debug(m),
    info: (m) => logger.info(m),
    warn: (m) => logger.warn(m),
    error: (m) => logger.error(m),
  };
}

async function start(context: { services: Services; config: SlackConfig; logger: Logger }): Promise<RunningChannel> {
  const [{ allCommands }, { invokeCommand }, { startSlackApp }] = await Promise.all([
    import('../../../commands/index'),
    import('../../../commands/invoke'),
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
