/**
 * The one entry point channels call: `invokeCommand` finds the command, checks the raw options
 * against its declaration, checks admin rights, the reviewer role and the rate limit, runs it,
 * and turns every user error into an ErrorView. It never throws for something a user did.
 */
import type { Actor } from '../src/core/actor';
import { DomainError } from '../src/core/errors';
import type { Services } from '../src/core/services';
import { allCommands } from './index';
import { parseOptions } from './options';
import type { CommandContext, CommandDefinition, CommandResult } from './types';

export { parseOptions } from './options';

export function findCommand(name: string): CommandDefinition | undefined {
  const bare = name.trim().replace(/^\//, '').toLowerCase();
  return allCommands.find((c) => c.name === bare);
}

const errorResult = (e: DomainError): CommandResult => ({ view: e.toView(), ephemeral: true });

async function checkRights(services: Services, command: CommandDefinition, actor: Actor): Promise<void> {
  if (command.adminOnly && !actor.isAdmin) {
    throw new DomainError(
      'admin_only',
      `/${command.name} is for admins only (Manage Server on Discord, a workspace admin on Slack, --admin in the terminal).`,
    );
  }
  if (command.reviewerRole && !actor.isAdmin) {
    const who = await services.identity.resolve(actor);
    const { reviewer_role } = await services.settingsStore.get(services.database.db, who.workspaceId);
    if (reviewer_role !== null && !(actor.roles ?? []).includes(reviewer_role)) {
      throw new DomainError(
        'reviewer_role_required',
        `/${command.name} is for reviewers: it needs the reviewer role set by an admin (settings reviewer_role), which you do not have.`,
      );
    }
  }
  if (command.rateLimited) {
    // Keyed by pseudonym: the table holds no platform user id.
    const waitMs = await services.rateLimiter.take(`${actor.workspaceId}:${services.identity.pseudonym(actor)}`);
    if (waitMs > 0) {
      throw new DomainError('rate_limited', `You can run ${services.rateLimiter.limit} analyses a minute; try again in ${Math.ceil(waitMs / 1000)} s.`);
    }
  }
}

export async function invokeCommand(
  services: Services,
  actor: Actor,
  commandName: string,
  rawOptions: Record<string, unknown>,
  replyRef?: CommandContext['replyRef'],
): Promise<CommandResult> {
  const command = findCommand(commandName);
  if (!command) {
    return errorResult(
      new DomainError('unknown_command', `There is no /${commandName.replace(/^\//, '')} command. Commands: ${allCommands.map((c) => `/${c.name}`).join(', ')}.`),
    );
  }
  // Logs carry the reviewer's pseudonym (as the dataset does), never the platform user id or name.
  const where = { command: command.name, platform: actor.platform, reviewer: services.identity.pseudonym(actor), workspace: actor.workspaceId, channel: actor.channelId };
  const stopping = () =>
    errorResult(new DomainError('stopping', 'Confab is stopping, so nothing was saved. Run the command again once it has restarted.'));
  if (services.stopping) return stopping();
  try {
    const options = parseOptions(command, rawOptions ?? {});
    await checkRights(services, command, actor);
    const result = await command.run({ actor, services, replyRef }, options);
    return command.ephemeral && result.ephemeral === undefined ? { ...result, ephemeral: true } : result;
  } catch (e) {
    if (e instanceof DomainError) return errorResult(e);
    // The database closed under the command: the process is stopping, not the database failing.
    if (services.stopping) return stopping();
    if (isConnectionLoss(e)) {
      services.logger.warn({ ...where, err: e }, `/${command.name}: the database is unreachable`);
      return errorResult(
        new DomainError('database_unavailable', 'The database is unavailable right now, so nothing was saved. Try again in a moment.'),
      );
    }
    const ref = `${Date.now().toString(36)}`;
    services.logger.error({ ...where, ref, err: e }, `/${command.name} failed`);
    return {
      view: { kind: 'error', code: 'internal_error', message: `Something went wrong on Confab's side (ref ${ref}); it was logged. Try again in a moment.` },
      ephemeral: true,
    };
  }
}

/**
 * A lost or refused database connection (a PostgreSQL restart, a network cut): the user is
 * told nothing was saved, instead of a generic failure. Codes: node's socket errors and
 * PostgreSQL's class 08 (connection exception) and 57P (operator intervention: shutdown).
 */
function isConnectionLoss(e: unknown): boolean {
  for (let err = e as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; err && depth < 4; err = err.cause as typeof err, depth++) {
    const code = typeof err.code === 'string' ? err.code : '';
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'].includes(code) || /^08|^57P/.test(code)) return true;
    if (typeof err.message === 'string' && /Connection terminated|Client has encountered a connection error|pool after calling end/.test(err.message)) return true;
  }
  return false;
}
