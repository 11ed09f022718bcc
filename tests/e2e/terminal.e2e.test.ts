/**
 * End to end: sessions piped into the real `confab start --local`, with the real embedded worker
 * on the reference model stack and a fresh PGlite database per test.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db';
import { analyses } from '../../db/schema';
import { CONFAB_BIN, runConfab, startConfab, startProcess, cleanUp, tempDir } from '../cli/run-confab';

afterAll(cleanUp);

const E2E_TIMEOUT = 240_000;

/**
 * Creating a PGlite database runs initdb in WebAssembly (seconds); every test starts from a copy
 * of one that `confab migrate` prepared, which is what a second `confab start` would find.
 */
let template = '';
beforeAll(async () => {
  template = tempDir('confab-e2e-template-');
  const migrated = await runConfab(['migrate'], { env: { CONFAB_DATA_DIR: template } });
  expect(migrated.code, migrated.stderr).toBe(0);
}, E2E_TIMEOUT);

function freshDataDir(): string {
  const dir = tempDir('confab-e2e-');
  cpSync(template, dir, { recursive: true });
  return dir;
}

/** Stdout must be plain text when piped: no escape sequence of any kind. */
function expectPlain(stdout: string): void {
  expect(stdout).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
}

/** Asserts that `pieces` appear in this order. */
function expectInOrder(text: string, pieces: Array<string | RegExp>): void {
  let at = 0;
  for (const piece of pieces) {
    const rest = text.slice(at);
    const index = typeof piece === 'string' ? rest.indexOf(piece) : rest.search(piece);
    expect(index, `${String(piece)} after offset ${at} in:\n${text}`).toBeGreaterThanOrEqual(0);
    at += index + 1;
  }
}

describe('confab start --local, piped', () => {
  it(
    'explain, three reviewers vote, the item closes, and stats show it',
    async () => {
      const session = [
        '# alice asks for an analysis of the last token',
        '/explain The quick brown fox jumps over the lazy dog',
        '/vote #1 faithful',
        '/vote #1 confabulated it reads more like Spanish',
        '/as bob',
        '/vote 1 confabulated',
        '/as carol',
        '/vote #1 confabulated',
        '/as dave',
        '/vote #1 faithful',
        '/stats',
        // A prompt that tries to clear the screen is refused, and not echoed raw.
        '/explain bad\x1b[2Jprompt',
      ].join('\n');
      const data = freshDataDir();
      const run = await runConfab(['start', '--local', '--as', 'alice'], { env: { CONFAB_DATA_DIR: data }, input: `${session}\n` });
      expect(run.code, run.stderr).toBe(0);
      expectPlain(run.stdout);
      expectInOrder(run.stdout, [
        '> /explain The quick brown fox jumps over the lazy dog',
        'Analysis 1 · queued · asked by alice',
        /Analysis 1 · done · confab-reference-v1 layer \d+ · asked by alice/,
        'Prompt: The quick brown fox jumps over the lazy do⟦g⟧',
        /Token \d+ "g" · SAE L0 \d+ · explained variance -?\d\.\d\d · fve_nrm -?\d\.\d\d/,
        'SAE features',
        /f\d+ +[█▏▎▍▌▋▊▉░]{12} +\d+\.\d\d {2}\S/,
        'NLA explanations',
        /1\. #1 {2}"/,
        /AR round trip: cosine -?\d\.\d\d · mse_nrm \d\.\d\d · fve_nrm -?\d+\.\d\d/,
        'vote: /vote #1 faithful|confabulated|unsure [note]',
        'Vote recorded on #1: faithful.',
        'Vote on #1 changed from faithful to confabulated.',
        'Note: it reads more like Spanish',
        'Now acting as bob.',
        'Vote recorded on #1: confabulated.',
        'Votes: 0 faithful · 2 confabulated · 0 unsure',
        'Now acting as carol.',
        'Votes: 0 faithful · 3 confabulated · 0 unsure',
        'This vote closed #1.',
        'Now acting as dave.',
        /Error: .*#1 is closed/,
        /Analyses +1\n/,
        /Votes +3\n/,
        /Reviewers +3\n/,
        /Open items +0\n/,
        /Closed items +1\n/,
        /Confabulation rate +100\.0% \(95% CI/,
        '> /explain bad\\x1b[2Jprompt',
        /Error: .*control character/i,
      ]);

      // The same votes come out of the dataset export: three reviewers, alice's changed vote once.
      const out = path.join(data, 'export', 'dataset.jsonl');
      const exported = await runConfab(['dataset', 'export', '--out', out], { env: { CONFAB_DATA_DIR: data } });
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout).toContain(`Wrote 1 rows (3 votes, 1 with a majority label) to ${out}`);
      const rows = readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ explanation_id: 1, prompt: 'The quick brown fox jumps over the lazy dog', token: 'g', majority_label: 'confabulated', decisive_votes: 3, state: 'closed' });
      expect(rows[0].votes).toEqual(['confabulated', 'confabulated', 'confabulated']);
      expect(JSON.stringify(rows[0])).not.toMatch(/alice|bob|carol/);
      expect(rows[0]).not.toHaveProperty('activation');
      // With --include-activations, the row carries the analysed position's activation vector.
      const withActivations = path.join(data, 'export', 'with-activations.jsonl');
      const again = await runConfab(['dataset', 'export', '--include-activations', '--out', withActivations], { env: { CONFAB_DATA_DIR: data } });
      expect(again.code, again.stderr).toBe(0);
      const [row] = readFileSync(withActivations, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
      expect(row.explanation_id).toBe(1);
      expect(row.activation.length).toBeGreaterThan(0);
      expect(row.activation.every((x: unknown) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
    },
    E2E_TIMEOUT,
  );

  /**
   * Starts Confab against a worker that accepts connections and never answers, asks for an
   * analysis, waits until the dispatcher is talking to that worker, then sends `signal`.
   */
  async function stopDuringAnalysis(data: string, signal: NodeJS.Signals) {
    const sockets = new Set<Socket>();
    const stalled: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const stalledUrl = `http://127.0.0.1:${(stalled.address() as { port: number }).port}`;
    try {
      const first = startConfab(['start', '--local', '--as', 'alice'], {
        env: { CONFAB_DATA_DIR: data, WORKER_URLS: stalledUrl, CONFAB_WORKER_TIMEOUT_MS: '600000' },
      });
      first.child.stdin!.write('/explain Más vale tarde que nunca\n');
      await first.waitForOutput('Analysis 1 · queued', 120_000);
      const deadline = Date.now() + 60_000;
      while (sockets.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(sockets.size).toBeGreaterThan(0);
      first.child.kill(signal);
      return await first.done;
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stalled.close(() => resolve()));
    }
  }

  async function analysisRows(data: string) {
    const database = await openDatabase({ kind: 'pglite', dir: path.join(data, 'pglite') });
    try {
      return await database.db.select({ status: analyses.status, prompt: analyses.prompt }).from(analyses);
    } finally {
      await database.close();
    }
  }

  /** A restart on the same data directory with the embedded worker and no input at all. */
  async function expectResumedAfterRestart(data: string) {
    const second = await runConfab(['start', '--local', '--as', 'alice'], { env: { CONFAB_DATA_DIR: data }, input: '' });
    expect(second.code, second.stderr).toBe(0);
    expectPlain(second.stdout);
    expectInOrder(second.stdout, [/Analysis 1 · done · confab-reference-v1 layer \d+ · asked by alice/, 'Prompt: Más vale tarde que nunc⟦a⟧', /1\. #1 {2}"/]);
    expect(await analysisRows(data)).toEqual([{ status: 'done', prompt: 'Más vale tarde que nunca' }]);
  }

  it(
    'resumes an analysis that was in progress when Confab stopped, and shows its result after the restart',
    async () => {
      const data = freshDataDir();
      const stopped = await stopDuringAnalysis(data, 'SIGTERM');
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(stopped.stdout).toContain('Analysis #1 is saved and will finish after the restart.');
      expect(stopped.stdout).not.toContain('Analysis 1 · done');
      // A clean stop puts the analysis back in the queue.
      expect(await analysisRows(data)).toEqual([{ status: 'queued', prompt: 'Más vale tarde que nunca' }]);

      // The session waits for the resumed analysis, prints it, and exits; its ids work after.
      await expectResumedAfterRestart(data);
      const third = await runConfab(['start', '--local', '--as', 'bob'], { env: { CONFAB_DATA_DIR: data }, input: '/vote #1 faithful\n' });
      expect(third.code, third.stderr).toBe(0);
      expect(third.stdout).toContain('Vote recorded on #1: faithful.');
    },
    E2E_TIMEOUT,
  );

  it(
    'resumes an analysis after a crash (SIGKILL), taking over the stale database lock',
    async () => {
      const data = freshDataDir();
      const killed = await stopDuringAnalysis(data, 'SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      // Nothing could tidy up: the dead process's lock file remains (and its analysis is still
      // marked running). The restart must take both over.
      expect(existsSync(path.join(data, 'pglite.lock'))).toBe(true);
      await expectResumedAfterRestart(data);
    },
    E2E_TIMEOUT,
  );

  it(
    'marks an analysis failed with the reason when the worker is down, and retries it on /retry',
    async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const down = `http://127.0.0.1:${(probe.address() as { port: number }).port}`;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const run = await runConfab(['start', '--local', '--as', 'alice'], {
        env: { CONFAB_DATA_DIR: freshDataDir(), WORKER_URLS: down },
        input: '/explain Hola mundo\n/retry 1\n/stats\n',
      });
      expect(run.code, run.stderr).toBe(0);
      expectPlain(run.stdout);
      expectInOrder(run.stdout, [
        'Analysis 1 · failed · asked by alice',
        /Failed: The inference worker is unavailable\. Try \/retry in a moment\./,
        'Retry with: /retry 1',
        '> /retry 1',
        'Analysis 1 · failed',
        /Analyses +1\n/,
      ]);
    },
    E2E_TIMEOUT,
  );

  it(
    'says in one line that the database is unavailable, and exits 1',
    async () => {
      const probe = createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as { port: number }).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const run = await runConfab(['start', '--local'], {
        env: { DATABASE_URL: `postgres://confab:secret-pw@127.0.0.1:${port}/confab` },
        input: '/stats\n',
      });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      const lines = run.stderr.trim().split('\n');
      expect(lines, run.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^confab start: The database at postgres://confab:\\*\\*\\*@127\\.0\\.0\\.1:${port}/confab is unavailable: .*ECONNREFUSED`));
      expect(run.stderr).not.toContain('secret-pw');
    },
    E2E_TIMEOUT,
  );
});

/** util-linux `script` gives the child a real pseudo-terminal, as a person typing would. */
const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

describe.skipIf(!SCRIPT)('confab start --local, on a terminal', () => {
  function onTty(env: Record<string, string | null>) {
    const command = [process.execPath, CONFAB_BIN, 'start', '--local', '--as', 'alice'].map((a) => `'${a}'`).join(' ');
    // Node reports no colours under CI=… (unless FORCE_COLOR), as a CI log is not a terminal;
    // this test is about a person's terminal.
    return startProcess(SCRIPT!, ['-qfec', command, '/dev/null'], { env: { TERM: 'xterm-256color', CI: null, FORCE_COLOR: null, ...env } });
  }

  it(
    'prompts, colours the result and highlights the selected token; NO_COLOR turns colour off',
    async () => {
      const data = freshDataDir();
      const tty = onTty({ CONFAB_DATA_DIR: data });
      await tty.waitForOutput('confab (alice)> ', 120_000);
      tty.child.stdin!.write('/explain Hola mundo\r');
      await tty.waitForOutput(/Analysis 1\x1b\[22m · \x1b\[32mdone/, 120_000);
      await tty.waitForOutput('vote: /vote #1 faithful|confabulated|unsure [note]', 30_000);
      expect(tty.stdout()).toContain('Prompt: Hola mund\x1b[1m\x1b[7mo\x1b[27m\x1b[22m');
      expect(tty.stdout()).toMatch(/\x1b\[35m[█▏▎▍▌▋▊▉░]{12}\x1b\[39m/);
      tty.child.stdin!.write('/quit\r');
      const done = await tty.done;
      expect(done.code, done.stderr).toBe(0);

      const plain = onTty({ CONFAB_DATA_DIR: data, NO_COLOR: '1' });
      await plain.waitForOutput('confab (alice)> ', 120_000);
      plain.child.stdin!.write('/help\r');
      await plain.waitForOutput('/quit', 60_000);
      plain.child.stdin!.write('/quit\r');
      const plainDone = await plain.done;
      expect(plainDone.code, plainDone.stderr).toBe(0);
      // readline still moves the cursor, but no text is styled.
      expect(plainDone.stdout).toContain('Commands');
      expect(plainDone.stdout).not.toMatch(/\x1b\[\d+m/);
    },
    E2E_TIMEOUT,
  );
});
