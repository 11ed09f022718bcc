/**
 * The wire contracts of Neuronpedia's servers (schemas/*.schema.json, written from the owners'
 * specs; the source and commit are in each file's `$comment`), compiled once with Ajv's
 * JSON Schema 2020-12 build. `expectValid` fails a test with every violation listed.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020 from 'ajv/dist/2020';
import type { ValidateFunction } from 'ajv';

const here = path.dirname(fileURLToPath(import.meta.url));
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, keywords: ['routes'] });
for (const file of ['neuronpedia-nla.schema.json', 'neuronpedia-inference.schema.json']) {
  ajv.addSchema(JSON.parse(readFileSync(path.join(here, 'schemas', file), 'utf8')) as object);
}

export type Server = 'nla' | 'inference';
const compiled = new Map<string, ValidateFunction>();

function validator(server: Server, def: string): ValidateFunction {
  const ref = `https://confab.invalid/contracts/neuronpedia-${server}.schema.json#/$defs/${def}`;
  let fn = compiled.get(ref);
  if (!fn) {
    fn = ajv.getSchema(ref);
    if (!fn) throw new Error(`no schema ${ref}`);
    compiled.set(ref, fn);
  }
  return fn;
}

/** The violations of `value` against `def` ([] when it conforms). */
export function violations(server: Server, def: string, value: unknown): string[] {
  const fn = validator(server, def);
  if (fn(value)) return [];
  return (fn.errors ?? []).map((e) => `${def}${e.instancePath}: ${e.message ?? e.keyword}`);
}

export function expectValid(server: Server, def: string, value: unknown): void {
  const found = violations(server, def, value);
  if (found.length > 0) throw new Error(`not a valid ${def}:\n  ${found.join('\n  ')}\nvalue: ${JSON.stringify(value).slice(0, 2000)}`);
}

/** The `data:` payloads of a server-sent event stream, `[DONE]` kept as the string. */
export function sseFrames(text: string): unknown[] {
  return text
    .split('\n\n')
    .map((block) => block.trim())
    .filter((block) => block.startsWith('data: '))
    .map((block) => {
      const data = block.slice('data: '.length);
      return data === '[DONE]' ? data : (JSON.parse(data) as unknown);
    });
}
