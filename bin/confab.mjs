#!/usr/bin/env node
// The published entry point. tsx compiles the TypeScript sources on load, so a fresh
// clone runs with `npm ci` alone and no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2));
if (typeof code === 'number') process.exitCode = code;
