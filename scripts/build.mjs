#!/usr/bin/env node
// `npm run build`, and `prepare` (which `npm ci` runs): bundles the TypeScript of src/,
// commands/ and db/ into dist/ with esbuild, so that `confab` starts without compiling
// TypeScript. bin/confab.mjs runs dist/ only while it is current (see sourceFingerprint), and
// the sources through tsx otherwise, so an edit never runs stale code.
//
// Layout, on which paths in the sources rely:
// - every output file sits directly in dist/, one level below the package root, as src/*.ts and
//   db/*.ts sit: `import.meta.dirname/..` (the reference models, the migrations) still names the
//   package root;
// - the engine thread's entry is dist/boot.mjs, the name engine-thread.ts starts its thread from;
// - packages stay in node_modules (imported at run time, not bundled): their own files (PGlite's
//   WASM, onnxruntime's binding, the fonts) are found where they always are;
// - lazy `import()`s become chunks of their own (splitting), so `confab --help` still loads
//   neither the database nor the model runtime.
//
// It also builds dist/pglite-template/, the migrated empty database a new data folder is copied
// from (db/template.mjs), kept across builds while PGlite and migrations/ are unchanged.
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

/** The files a build is made from; any change to one makes dist/ stale. */
export const BUILD_INPUTS = ['src', 'commands', 'db', 'scripts/build.mjs', 'package.json', 'tsconfig.json'];

/**
 * The path, size and modification time of every input file, as one string: cheap enough to
 * recompute at every start (a few ms; no hashing, whose first use costs more than the stats).
 */
export function sourceFingerprint(base = root) {
  const lines = [];
  const visit = (relative) => {
    const full = path.join(base, relative);
    const stat = statSync(full, { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const name of readdirSync(full).sort()) visit(path.join(relative, name));
    } else {
      lines.push(`${relative} ${stat.size} ${stat.mtimeMs}`);
    }
  };
  for (const input of BUILD_INPUTS) visit(input);
  return lines.join('\n');
}

const DIST = path.join(root, 'dist');
const TEMPLATE = 'pglite-template';

async function build() {
  await bundle();
  await buildTemplate();
}

async function bundle() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    // esbuild arrives with tsx; without it, confab still runs from the sources.
    console.warn('[build] esbuild is not installed; confab will run from the TypeScript sources (slower to start).');
    return;
  }
  const started = Date.now();
  const fingerprint = sourceFingerprint();
  // Built beside dist/ and swapped in whole: a confab started meanwhile sees the old build or
  // the new one, never half of one.
  const staging = path.join(root, `dist.building-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: { confab: 'src/cli/main.ts', boot: 'src/worker/thread/host.ts' },
      outdir: staging,
      outExtension: { '.js': '.mjs' },
      chunkNames: '[name]-[hash]',
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'linked',
      sourcesContent: false,
      logLevel: 'warning',
    });
    writeFileSync(path.join(staging, 'build.json'), `${JSON.stringify({ fingerprint, builtAt: new Date().toISOString() })}\n`);
    const old = `${DIST}.old-${process.pid}`;
    // The template outlives the bundle: buildTemplate checks its key and rebuilds it only if stale.
    if (existsSync(path.join(DIST, TEMPLATE))) renameSync(path.join(DIST, TEMPLATE), path.join(staging, TEMPLATE));
    if (existsSync(DIST)) renameSync(DIST, old);
    renameSync(staging, DIST);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  console.log(`[build] dist/ built in ${Date.now() - started} ms.`);
}

/** A failed template costs only speed (a new data folder runs initdb), so it never fails the install. */
export async function buildTemplate(dist = DIST, migrationsFolder = path.join(root, 'migrations')) {
  const started = Date.now();
  try {
    const { buildPgliteTemplate } = await import('../db/template.mjs');
    if (await buildPgliteTemplate(path.join(dist, TEMPLATE), migrationsFolder)) {
      console.log(`[build] dist/${TEMPLATE}/ built in ${Date.now() - started} ms.`);
    }
  } catch (e) {
    // One line: a failed migration's own message is drizzle's, with the query and a line of params.
    const why = String(e?.cause?.message ?? e?.message ?? e).split('\n')[0];
    console.warn(`[build] The database template was not built (${why}); a new data folder will be created by initdb instead (a few seconds at its first start).`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await build();
