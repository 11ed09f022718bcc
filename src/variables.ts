/**
 * Environment variables, each declared once: name, description, default, whether it is secret,
 * and the zod schema that parses it. The core (src/config.ts) and every channel module declare
 * theirs with `defineVariables`; reading, error messages, masking, `confab doctor` and the
 * README's configuration tables are all derived from those declarations.
 *
 * This module depends on nothing of Confab's, so every layer may use it.
 */
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** What documentation shows about a variable. */
export interface VariableSpec {
  name: string;
  description: string;
  /** The value used when unset, as it would be written in the environment. */
  default?: string;
  /** Masked wherever configuration is printed, error messages included. */
  secret?: boolean;
  example?: string;
  /** Heading of its README table; channel variables go under their channel's name. */
  group?: string;
}

/** A variable's declaration: its documentation and its parser (string in, typed value out). */
export interface VariableDeclaration<T = unknown> extends Omit<VariableSpec, 'name'> {
  schema: z.ZodType<T, string>;
}

export type Declarations = Record<string, VariableDeclaration>;

/** The typed values of a set of declarations: a variable with a default is never undefined. */
export type VariableValues<D extends Declarations> = {
  [K in keyof D]: D[K] extends { default: string } ? z.output<D[K]['schema']> : z.output<D[K]['schema']> | undefined;
};

/** Keeps the literal shape of the declarations, so `readVariables` knows which have defaults. */
export function defineVariables<const D extends Declarations>(declarations: D): D {
  return declarations;
}

/** The documentation of each declaration, in declaration order. */
export function variableSpecs(declarations: Declarations): VariableSpec[] {
  return Object.entries(declarations).map(([name, d]) => {
    const spec: VariableSpec = { name, description: d.description };
    if (d.default !== undefined) spec.default = d.default;
    if (d.secret) spec.secret = true;
    if (d.example !== undefined) spec.example = d.example;
    if (d.group !== undefined) spec.group = d.group;
    return spec;
  });
}

/**
 * Parse the declared variables out of an environment. Empty strings count as unset, as they do
 * in most `.env` files; an unset variable takes its default, which goes through the same parser.
 * Every bad variable is reported at once, one line each, with secret values hidden.
 */
export function readVariables<D extends Declarations>(declarations: D, env: Record<string, string | undefined>): VariableValues<D> {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, declaration] of Object.entries(declarations)) {
    const set = env[name];
    const raw = set === undefined || set === '' ? declaration.default : set;
    if (raw === undefined) {
      values[name] = undefined;
      continue;
    }
    const parsed = declaration.schema.safeParse(raw);
    if (parsed.success) {
      values[name] = parsed.data;
      continue;
    }
    const shown = declaration.secret ? '(hidden)' : JSON.stringify(raw);
    problems.push(`${name}=${shown} is not valid: expected ${parsed.error.issues[0]?.message ?? 'another value'}.`);
  }
  if (problems.length > 0) throw new ConfigError(problems.join('\n'));
  return values as VariableValues<D>;
}

// Parsers shared by declarations. Each message completes "expected …".

export const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `a whole number from ${min} to ${max}`);

export const floatIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, `a number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `a number from ${min} to ${max}`);

export const flag = z
  .enum(['0', '1', 'true', 'false', 'yes', 'no'], { message: 'one of 1, 0, true, false' })
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

export const httpUrl = z.string().regex(/^https?:\/\/\S+$/, 'an http(s):// URL');

export const text = (minLength = 1, message = `at least ${minLength} characters`) => z.string().min(minLength, message);
