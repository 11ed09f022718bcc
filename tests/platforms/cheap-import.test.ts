/**
 * A channel module must cost nothing to import: its SDK loads inside start(). Otherwise a
 * terminal session, `confab doctor` or `confab --help` would load discord.js (and later Bolt).
 * And the commands that need neither the database nor the models load neither: `confab --help`
 * and `confab agreement` start in a fraction of a second only while they import no PGlite,
 * onnxruntime, chat SDK, drizzle, config schema or logger.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFAB_BIN, cleanEnv } from '../cli/run-confab';

const root = path.resolve(import.meta.dirname, '../..');
const probe = path.join(import.meta.dirname, 'sdk-probe.ts');
const moduleProbe = path.join(import.meta.dirname, 'loaded-modules.mjs');
const scratch = mkdtempSync(path.join(tmpdir(), 'confab-cheap-import-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function sdkFilesLoadedBy(module: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', probe, path.join(root, module)], { cwd: root });
  return Number(stdout.trim());
}

let runs = 0;
/** The packages under node_modules that `node ARGS` loaded (ESM and CommonJS), by package name. */
async function packagesLoadedBy(args: string[], cwd = scratch): Promise<Set<string>> {
  const file = path.join(scratch, `modules-${runs++}.txt`);
  writeFileSync(file, '');
  await promisify(execFile)(process.execPath, ['--import', moduleProbe, ...args], { cwd, env: cleanEnv({ MODULE_PROBE_FILE: file }) });
  const packages = new Set<string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(decodeURIComponent(line));
    if (match) packages.add(match[1].replace(/\\/g, '/'));
  }
  return packages;
}

/** What a command that needs no database, model or chat platform must not load. */
const HEAVY = ['@electric-sql/pglite', 'onnxruntime-node', 'discord.js', '@slack/bolt', 'drizzle-orm', 'pg', 'vega', '@resvg/resvg-js', 'openai'];
/** What `confab --help` does not load either: the config schema and the logger. */
const FOR_CONFIG = ['zod', 'pino'];

describe('importing channel modules', () => {
  it('loads no platform SDK for the registry, the terminal or the CLI', async () => {
    for (const module of ['src/platforms/index.ts', 'src/platforms/terminal/index.ts', 'src/cli/main.ts']) {
      expect(await sdkFilesLoadedBy(module), module).toBe(0);
    }
  }, 60_000);

  it('loads discord.js once the Discord channel starts (the probe sees an SDK when there is one)', async () => {
    expect(await sdkFilesLoadedBy('src/platforms/discord/start.ts')).toBeGreaterThan(0);
  }, 60_000);
});

describe('what the confab executable loads', () => {
  it('loads no heavy package, config schema or logger for --help and --version, and nothing heavy for a command’s --help', async () => {
    for (const args of [['--help'], ['--version']]) {
      const loaded = await packagesLoadedBy([CONFAB_BIN, ...args]);
      expect([...HEAVY, ...FOR_CONFIG].filter((name) => loaded.has(name)), args.join(' ')).toEqual([]);
    }
    // A command's help loads that command's module, which may read the configuration.
    const loaded = await packagesLoadedBy([CONFAB_BIN, 'worker', '--help']);
    expect(HEAVY.filter((name) => loaded.has(name))).toEqual([]);
  }, 120_000);

  it('loads neither the database, the model runtime nor a chat SDK for agreement', async () => {
    const csv = path.join(scratch, 'votes.csv');
    writeFileSync(csv, 'item,reviewer,label\na,r1,faithful\na,r2,faithful\nb,r1,confabulated\nb,r2,faithful\n');
    const loaded = await packagesLoadedBy([CONFAB_BIN, 'agreement', '--csv', csv]);
    expect(HEAVY.filter((name) => loaded.has(name))).toEqual([]);
  }, 60_000);

  it('sees a package when one loads (ESM, and CommonJS imported from ESM)', async () => {
    const loaded = await packagesLoadedBy(['--input-type=module', '-e', "await import('@electric-sql/pglite'); await import('onnxruntime-node');"], root);
    expect(loaded.has('@electric-sql/pglite')).toBe(true);
    expect(loaded.has('onnxruntime-node')).toBe(true);
  }, 60_000);
});
