/**
 * The Slack channel's variables, and how it reads and checks them.
 */
import type { VariableSpec } from '../channel';

export interface SlackConfig {
  botToken: string;
  /** Set: Socket Mode. Unset: HTTP mode with `signingSecret`. */
  appToken?: string;
  signingSecret?: string;
  /** HTTP mode's port (0 picks a free one, for tests). */
  port: number;
  /** Web API base URL, ending in `/`. */
  apiUrl: string;
}

export const DEFAULT_SLACK_API_URL = 'https://slack.com/api/';

export const SLACK_VARIABLES: readonly VariableSpec[] = [
  { name: 'SLACK_BOT_TOKEN', description: 'Bot token (xoxb-…); turns the Slack channel on.', secret: true, example: 'xoxb-…' },
  { name: 'SLACK_APP_TOKEN', description: 'App-level token (xapp-…) with connections:write; set, the channel uses Socket Mode.', secret: true, example: 'xapp-…' },
  { name: 'SLACK_SIGNING_SECRET', description: 'Signing secret; without SLACK_APP_TOKEN the channel uses HTTP mode and checks every request with it.', secret: true },
  { name: 'SLACK_PORT', description: 'Port of the HTTP-mode receiver (POST /slack/events).', default: '3000' },
  { name: 'SLACK_API_URL', description: 'Web API base URL for every call (apps.connections.open included), for a proxy or a test server.', default: DEFAULT_SLACK_API_URL },
];

export class SlackConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlackConfigError';
  }
}

/** Read the Slack variables; empty strings count as unset, as in most `.env` files. */
export function configureSlack(env: Record<string, string | undefined>): SlackConfig | undefined {
  const get = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name]!.trim());
  const botToken = get('SLACK_BOT_TOKEN');
  const appToken = get('SLACK_APP_TOKEN');
  const signingSecret = get('SLACK_SIGNING_SECRET');
  const port = get('SLACK_PORT');
  const apiUrl = get('SLACK_API_URL');
  if (!botToken) {
    if (appToken || signingSecret) {
      throw new SlackConfigError(`${appToken ? 'SLACK_APP_TOKEN' : 'SLACK_SIGNING_SECRET'} is set, but SLACK_BOT_TOKEN (xoxb-…) is not; set it too, or unset both to turn Slack off.`);
    }
    return undefined;
  }
  const problems: string[] = [];
  if (!/^xoxb-\S+$/.test(botToken)) problems.push('SLACK_BOT_TOKEN=(hidden) is not valid: expected a bot token starting with xoxb-.');
  if (appToken && !/^xapp-\S+$/.test(appToken)) problems.push('SLACK_APP_TOKEN=(hidden) is not valid: expected an app-level token starting with xapp-.');
  if (port !== undefined && !(/^\d+$/.test(port) && Number(port) <= 65535)) {
    problems.push(`SLACK_PORT=${JSON.stringify(port)} is not valid: expected a whole number from 0 to 65535.`);
  }
  if (apiUrl !== undefined && !/^https?:\/\/\S+$/.test(apiUrl)) problems.push(`SLACK_API_URL=${JSON.stringify(apiUrl)} is not valid: expected an http(s):// URL.`);
  if (!appToken && !signingSecret) {
    problems.push('SLACK_BOT_TOKEN is set, but neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is; set one of them.');
  }
  if (problems.length > 0) throw new SlackConfigError(problems.join('\n'));
  return {
    botToken,
    appToken,
    signingSecret,
    port: port === undefined ? 3000 : Number(port),
    // The Web API client joins method names onto this base, so it must end with a slash.
    apiUrl: apiUrl === undefined ? DEFAULT_SLACK_API_URL : apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`,
  };
}

export function describeSlack(config: SlackConfig): string {
  const api = config.apiUrl === DEFAULT_SLACK_API_URL ? '' : `, API ${config.apiUrl}`;
  return config.appToken ? `Slack, Socket Mode${api}` : `Slack, HTTP mode on port ${config.port} (POST /slack/events)${api}`;
}
