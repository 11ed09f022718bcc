// Module hooks of loaded-modules.mjs: they run on Node's loader thread, so each resolved URL
// goes straight to the file rather than back to the program.
import { appendFileSync } from 'node:fs';

let file;

export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(file, `${resolved.url}\n`);
  return resolved;
}
