/**
 * A channel module must cost nothing to import: its SDK loads inside start(). Otherwise a
 * terminal session, `confab doctor` or `confab --help` would load discord.js (and later Bolt).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const probe = path.join(import.meta.dirname, 'sdk-probe.ts');

async function sdkFilesLoadedBy(module: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', probe, path.join(root, module)], { cwd: root });
  return Number(stdout.trim());
}

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
