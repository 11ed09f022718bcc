/**
 * The one entry point channels call: `invokeCommand` finds the command, checks the raw options
 * against its declaration, checks admin rights and the rate limit, runs it, and turns every
 * user error into an ErrorView. It never throws for something a user did.
 */
import { allCommands } from '../../commands';
import type { Actor, CommandContext, CommandDefinition, CommandResult, OptionSpec, ParsedOptions } from '../../commands/types';
import { coreOf } from './context';
import { DomainError, formatCount } from './errors';
import type { Services } from './services';
import { characterCount, findControlCharacter } from './text';

export function findCommand(name: string): CommandDefinition | undefined {
  const bare = name.trim().replace(/^\//, '').toLowerCase();
  return allCommands.find((c) => c.name === bare);
}

const displayName = (spec: OptionSpec) => spec.name.charAt(0).toUpperCase() + spec.name.slice(1).replace(/_/g, ' ');

function parseNumber(command: CommandDefinition, spec: OptionSpec, raw: unknown): number {
  let value: number;
  if (typeof raw === 'number') value = raw;
  else if (typeof raw === 'string' && /^\s*#?[-+]?\d+(\.\d+)?\s*$/.test(raw)) value = Number(raw.trim().replace(/^#/, ''));
  else {
    const kind = spec.type === 'integer' ? 'a whole number' : 'a number';
    throw new DomainError('invalid_option', `${displayName(spec)} must be ${kind}; got ${JSON.stringify(raw)}.`);
  }
  if (!Number.isFinite(value) || (spec.type === 'integer' && !Number.isInteger(value))) {
    throw new DomainError('invalid_option', `${displayName(spec)} must be ${spec.type === 'integer' ? 'a whole number' : 'a number'}; got ${JSON.stringify(raw)}.`);
  }
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
    const range =
      spec.min !== undefined && spec.max !== undefined
        ? `from ${formatCount(spec.min)} to ${formatCount(spec.max)}`
        : spec.min !== undefined
          ? `at least ${formatCount(spec.min)}`
          : `at most ${formatCount(spec.max!)}`;
    throw new DomainError('invalid_option', `${displayName(spec)} must be ${range} for /${command.name}; got ${value}.`);
  }
  return value;
}

function parseOption(command: CommandDefinition, spec: OptionSpec, raw: unknown): string | number | boolean {
  let value: string | number | boolean;
  switch (spec.type) {
    case 'integer':
    case 'number':
      value = parseNumber(command, spec, raw);
      break;
    case 'boolean':
      if (typeof raw === 'boolean') value = raw;
      else if (typeof raw === 'string' && /^(true|yes|1|on)$/i.test(raw.trim())) value = true;
      else if (typeof raw === 'string' && /^(false|no|0|off)$/i.test(raw.trim())) value = false;
      else throw new DomainError('invalid_option', `${displayName(spec)} must be true or false; got ${JSON.stringify(raw)}.`);
      break;
    case 'role':
    case 'channel':
      if (typeof raw !== 'string' && typeof raw !== 'number') {
        throw new DomainError('invalid_option', `${displayName(spec)} must be a ${spec.type}; got ${typeof raw}.`);
      }
      value = String(raw).trim();
      break;
    case 'string': {
      if (typeof raw !== 'string' && typeof raw !== 'number') {
        throw new DomainError('invalid_option', `${displayName(spec)} must be text; got ${typeof raw}.`);
      }
      const text = String(raw);
      const control = findControlCharacter(text);
      if (control) {
        throw new DomainError('control_characters', `${displayName(spec)} contains a control character (${control}); only text, line breaks and tabs are allowed.`);
      }
      if (spec.maxLength !== undefined) {
        const length = characterCount(text);
        if (length > spec.maxLength) {
          throw new DomainError('too_long', `${displayName(spec)} is ${formatCount(length)} characters; the limit is ${formatCount(spec.maxLength)}.`);
        }
      }
      value = text;
      break;
    }
  }
  if (spec.choices && spec.choices.length > 0) {
    const match = spec.choices.find((c) => (typeof c === 'string' && typeof value === 'string' ? c.toLowerCase() === value.trim().toLowerCase() : c === value));
    if (match === undefined) {
      throw new DomainError('invalid_option', `${displayName(spec)} must be one of ${spec.choices.join(', ')}; got ${JSON.stringify(raw)}.`);
    }
    value = match;
  }
  return value;
}

/** Validates raw option values (from a slash form, a button, or parsed terminal text). */
export function parseOptions(command: CommandDefinition, rawOptions: Record<string, unknown>): ParsedOptions {
  const parsed: ParsedOptions = {};
  for (const key of Object.keys(rawOptions)) {
    if (!command.options.some((o) => o.name === key) && rawOptions[key] !== undefined) {
      const names = command.options.map((o) => o.name);
      throw new DomainError(
        'unknown_option',
        `/${command.name} has no option "${key}". ${names.length ? `Its options are: ${names.join(', ')}.` : 'It takes no options.'}`,
      );
    }
  }
  for (const spec of command.options) {
    const raw = rawOptions[spec.name];
    const absent = raw === undefined || raw === null || (raw === '' && spec.type !== 'string');
    if (absent) {
      if (spec.required) {
        throw new DomainError('missing_option', `/${command.name} needs ${spec.name}: ${spec.description.replace(/\.$/, '')}.`);
      }
      continue;
    }
    parsed[spec.name] = parseOption(command, spec, raw);
  }
  return parsed;
}

const errorResult = (e: DomainError): CommandResult => ({ view: e.toView(), ephemeral: true });

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
  const core = coreOf(services);
  try {
    const options = parseOptions(command, rawOptions ?? {});
    if (command.adminOnly && !actor.isAdmin) {
      throw new DomainError(
        'admin_only',
        `/${command.name} is for admins only (Manage Server on Discord, a workspace admin on Slack, --admin in the terminal).`,
      );
    }
    if (command.reviewerRole && !actor.isAdmin) {
      const who = await core.identity.resolve(actor);
      const { reviewer_role } = await core.settingsStore.get(core.database.db, who.workspaceId);
      if (reviewer_role !== null && !(actor.roles ?? []).includes(reviewer_role)) {
        throw new DomainError(
          'reviewer_role_required',
          `/${command.name} is for reviewers: it needs the reviewer role set by an admin (settings reviewer_role), which you do not have.`,
        );
      }
    }
    if (command.rateLimited) {
      const waitMs = core.rateLimiter.take(`${actor.platform}:${actor.workspaceId}:${actor.userId}`);
      if (waitMs > 0) {
        throw new DomainError(
          'rate_limited',
          `You can run ${core.rateLimiter.limit} analyses a minute; try again in ${Math.ceil(waitMs / 1000)} s.`,
        );
      }
    }
    const result = await command.run({ actor, services, replyRef }, options);
    return command.ephemeral && result.ephemeral === undefined ? { ...result, ephemeral: true } : result;
  } catch (e) {
    if (e instanceof DomainError) return errorResult(e);
    if (isConnectionLoss(e)) {
      core.log('warn', `/${command.name} by ${actor.platform}:${actor.userId}: the database is unreachable: ${(e as Error).message}`);
      return errorResult(
        new DomainError('database_unavailable', 'The database is unavailable right now, so nothing was saved. Try again in a moment.'),
      );
    }
    const ref = `${Date.now().toString(36)}`;
    core.log(
      'error',
      `/${command.name} by ${actor.platform}:${actor.userId} in ${actor.workspaceId}/${actor.channelId} failed (ref ${ref}): ${(e as Error)?.stack ?? e}`,
    );
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
