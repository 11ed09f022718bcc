/**
 * The architecture, as rules: cli -> platforms -> commands -> core -> db, with the worker
 * apart and sharing only src/protocol/ with the inference client. `npm run lint` runs it.
 */
const SDKS = '^node_modules/(discord\\.js|@discordjs/|@slack/|openai|onnxruntime-node)';
const DRIVERS = '^node_modules/(pg|@electric-sql/pglite|proper-lockfile)($|/)';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle means two modules cannot be understood or changed apart.',
      from: { path: '^(src|commands|db)/' },
      to: { circular: true },
    },
    {
      name: 'core-is-below-everything-but-db',
      severity: 'error',
      comment: 'The core is the review domain: it never reaches up to channels, commands, the CLI or the worker.',
      from: { path: '^src/core/' },
      to: { path: '^(src/platforms|commands|src/worker|src/cli)/' },
    },
    {
      name: 'core-imports-no-sdk',
      severity: 'error',
      comment: 'Platform SDKs, the LLM client and the ONNX runtime stay outside the core.',
      from: { path: '^src/core/' },
      to: { path: SDKS },
    },
    {
      name: 'commands-stay-below-platforms',
      severity: 'error',
      from: { path: '^commands/' },
      to: { path: '^(src/platforms|src/cli|src/worker)/' },
    },
    {
      name: 'platforms-do-not-touch-db-or-worker',
      severity: 'error',
      comment: 'A channel translates events and renders; it reaches data only through commands and the core.',
      from: { path: '^src/platforms/' },
      to: { path: '^(db|src/worker|src/inference)/' },
    },
    {
      name: 'platforms-are-separate',
      severity: 'error',
      comment: 'Each channel is one folder; none imports another.',
      from: { path: '^src/platforms/([^/]+)/' },
      to: { path: '^src/platforms/([^/]+)/', pathNot: '^src/platforms/$1/' },
    },
    {
      name: 'worker-stands-apart',
      severity: 'error',
      comment: 'The worker shares only src/protocol/ with the bot.',
      from: { path: '^src/worker/' },
      to: { path: '^(src/core|src/platforms|commands|db|src/inference|src/cli|src/config\\.ts)' },
    },
    {
      name: 'inference-reaches-worker-only-by-protocol',
      severity: 'error',
      from: { path: '^src/inference/' },
      to: { path: '^(src/worker|src/platforms|commands|db)/' },
    },
    {
      name: 'protocol-is-a-leaf',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: '^(src|commands|db)/', pathNot: '^src/protocol/' },
    },
    {
      name: 'drivers-only-in-db',
      severity: 'error',
      comment: 'The database is reached through one module.',
      from: { path: '^(src|commands)/' },
      to: { path: DRIVERS },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(tests|tools|scripts|bin|migrations)' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mjs', '.js', '.json'],
    },
  },
};
