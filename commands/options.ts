/**
 * Options: the `OptionSpec` list channels read, derived from a command's zod object, and the
 * checks that turn raw values (a slash form, a button, parsed terminal text) into option
 * values, with the messages users see.
 */
import { z } from 'zod';
import { DomainError, formatCount } from '../src/core/errors';
import { characterCount, findControlCharacter } from '../src/core/text';
import type { OptionSpec, OptionType, ParsedOptions } from './types';

/** z.int() reports the safe-integer range as its bounds; those are not limits a user should see. */
const bound = (value: number | null | undefined): number | undefined =>
  value === null || value === undefined || !Number.isFinite(value) || Math.abs(value) >= Number.MAX_SAFE_INTEGER ? undefined : value;

function optionSpec(command: string, name: string, declared: z.ZodType): OptionSpec {
  const required = !(declared instanceof z.ZodOptional);
  const schema = declared instanceof z.ZodOptional ? (declared.unwrap() as z.ZodType) : declared;
  const meta = { ...schema.meta(), ...declared.meta() };
  const where = `/${command} option "${name}"`;
  if (!meta.description) throw new Error(`${where} needs a description: .meta({ description })`);
  let type: OptionType;
  let extra: Partial<OptionSpec> = {};
  if (schema instanceof z.ZodNumber) {
    type = schema.isInt ? 'integer' : 'number';
    extra = { min: bound(schema.minValue), max: bound(schema.maxValue) };
  } else if (schema instanceof z.ZodBoolean) {
    type = 'boolean';
  } else if (schema instanceof z.ZodEnum) {
    type = 'string';
    extra = { choices: schema.options.map((o) => (typeof o === 'number' ? o : String(o))) };
  } else if (schema instanceof z.ZodString) {
    if (schema.maxLength !== null || schema.minLength !== null) {
      throw new Error(`${where}: give its length limit as .meta({ maxLength }), counted in characters, not as .min()/.max()`);
    }
    type = meta.option ?? 'string';
  } else {
    throw new Error(`${where} has a type channels cannot take; use a string, number, integer, boolean or enum`);
  }
  const spec: OptionSpec = { name, description: meta.description, type, ...(required ? { required } : {}) };
  if (extra.choices) spec.choices = extra.choices;
  if (extra.min !== undefined) spec.min = extra.min;
  if (extra.max !== undefined) spec.max = extra.max;
  if (meta.maxLength !== undefined) spec.maxLength = meta.maxLength;
  if (meta.position !== undefined) spec.position = meta.position;
  return spec;
}

/** The channels' view of a command's options, in declaration order. */
export function optionSpecs(command: string, schema: z.ZodObject): OptionSpec[] {
  return Object.entries(schema.shape).map(([name, declared]) => optionSpec(command, name, declared as z.ZodType));
}

const displayName = (spec: OptionSpec) => spec.name.charAt(0).toUpperCase() + spec.name.slice(1).replace(/_/g, ' ');

interface Declared {
  name: string;
  options: OptionSpec[];
}

function parseNumber(command: Declared, spec: OptionSpec, raw: unknown): number {
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

function parseOption(command: Declared, spec: OptionSpec, raw: unknown): string | number | boolean {
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
export function parseOptions(command: Declared, rawOptions: Record<string, unknown>): ParsedOptions {
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
