/**
 * The layering rules of docs/adr/0006-layers.md, checked on every `npm test`
 * (`npm run check:layers`). Type-only imports count: a type is a dependency too.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Imports run one way; a cycle means two modules are one concern or the vocabulary sits in the wrong place.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'model-is-self-contained',
      severity: 'error',
      comment: 'The pure model (ciphertext codec, renewal policy, key tracking, health state) imports nothing but itself and the vocabulary the ports define (call context, error kinds, value types): no port interface it would call, no service, no library, no Node module.',
      from: { path: '^src/domain/model/' },
      to: { pathNot: '^src/(domain/model/|ports/(call-context|errors|token-lookup)\\.ts$)' },
    },
    {
      name: 'ports-import-nothing-but-ports',
      severity: 'error',
      comment: 'Ports are the interfaces and the vocabulary that crosses them (call context, error kinds, value types); they import no domain code, adapter or library, so every arrow points at them and none back.',
      from: { path: '^src/ports/' },
      to: { pathNot: '^src/ports/' },
    },
    {
      name: 'domain-imports-no-adapter',
      severity: 'error',
      comment: 'The domain knows adapters only through its ports, and knows nothing of the configuration or the composition.',
      from: { path: '^src/domain/' },
      to: { path: '^src/(adapters/|config/|compose/|main\\.ts$)' },
    },
    {
      name: 'domain-imports-no-io-library',
      severity: 'error',
      comment: 'No Node module and no npm package in the domain; the services may use the DI container (tsyringe) and nothing else.',
      from: { path: '^src/domain/' },
      to: { dependencyTypes: ['core', 'npm', 'npm-dev', 'npm-optional', 'npm-peer', 'npm-no-pkg', 'npm-unknown'], pathNot: '^node_modules/tsyringe/' },
    },
    {
      name: 'only-services-use-the-container',
      severity: 'error',
      comment: 'The model and the ports stay free of framework imports.',
      from: { path: '^src/(domain/model|ports)/' },
      to: { path: '^node_modules/tsyringe/' },
    },
    {
      name: 'no-adapter-imports-another',
      severity: 'error',
      comment: 'Each adapter depends inward only; the composition roots (src/compose) are where two adapters meet.',
      from: { path: '^src/adapters/([^/]+)/' },
      to: { path: '^src/adapters/', pathNot: '^src/adapters/$1/' },
    },
    {
      name: 'adapters-meet-the-domain-at-ports',
      severity: 'error',
      comment: 'Adapters use the model and implement or call ports; only the composition roots wire them to the services and read the configuration.',
      from: { path: '^src/adapters/' },
      to: { path: '^src/(domain/services/|config/|compose/|main\\.ts$)' },
    },
    {
      name: 'only-the-roots-compose',
      severity: 'error',
      comment: 'src/compose (one composition root per command) and src/main.ts, which dispatches to them, are the only files that import adapters and domain services together; the configuration may name an adapter\'s settings type.',
      from: { path: '^src/', pathNot: '^src/(main\\.ts$|compose/|adapters/|config/)' },
      to: { path: '^src/(adapters|config)/' },
    },
    {
      name: 'config-reads-settings-only',
      severity: 'error',
      comment: 'The configuration (src/config) turns flags and env vars into settings: it fills in the settings types the adapters own (adapters/<name>/*-settings.ts) and imports nothing else of src/.',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: '^src/(config/|adapters/[^/]+/[^/]+-settings\\.ts$)' },
    },
    {
      name: 'only-main-dispatches-to-roots',
      severity: 'error',
      comment: 'A composition root is entered from main.ts only; a root may use a shared helper of src/compose.',
      from: { path: '^src/', pathNot: '^src/(main\\.ts$|compose/)' },
      to: { path: '^src/compose/' },
    },
    {
      name: 'src-does-not-import-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '\\.generated\\.' },
  },
};
