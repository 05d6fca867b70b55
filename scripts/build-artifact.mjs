// Builds the shipped artifact: one self-contained executable, the file the
// image carries at /vault-kubernetes-kms (docs/adr/0005-artifact-and-image.md).
//   1. esbuild bundles src/main.ts and every dependency into one CommonJS file;
//   2. Node's single-executable-application support embeds it in a copy of the
//      Node.js 24 binary from the pinned npm package node-linux-<arch>
//      (scripts/fetch-node24.sh fetches it, alone, when .tools/node24 is
//      missing; `npm run tools` also calls it), so the image needs no
//      node_modules and no shell, and the runtime does not depend on the
//      machine's own Node;
//   3. `npm sbom` describes the npm packages inside the bundle (esbuild's
//      metafile says which), plus the Node.js runtime they run on.
// Usage: node scripts/build-artifact.mjs [--arch=x64|arm64] [--out-dir=DIR]
//   SEA_NODE_BINARY=/path/to/node overrides the embedded binary (same arch).
// Output: DIR/vault-kubernetes-kms, DIR/vault-kubernetes-kms.cjs, DIR/sbom.cdx.json
//   (DIR defaults to dist/artifact for the machine's arch, dist/artifact-<arch> otherwise).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync, statSync, rmSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const { values: opts } = parseArgs({ options: { arch: { type: 'string' }, 'out-dir': { type: 'string' } } });
const arch = opts.arch ?? process.arch;
if (arch !== 'x64' && arch !== 'arm64') fail(`--arch must be x64 or arm64, not ${arch}`);
const outDir = resolve(root, opts['out-dir'] ?? (arch === process.arch ? 'dist/artifact' : `dist/artifact-${arch}`));
const bundle = join(outDir, 'vault-kubernetes-kms.cjs');
const blob = join(outDir, 'sea-prep.blob');
const exe = join(outDir, 'vault-kubernetes-kms');
const sbom = join(outDir, 'sbom.cdx.json');

// The Node.js 24 that runs the build for this machine, and the one embedded for the target arch.
const hostNode = join(root, '.tools/node24/bin/node');
const node = process.env.SEA_NODE_BINARY || (arch === process.arch ? hostNode : join(root, `.tools/node24-linux-${arch}/bin/node`));
// Only the runtime, not the test tools: the pinned npm package, once per machine.
const needed = [...new Set([process.env.SEA_NODE_BINARY ? undefined : arch, arch === process.arch ? undefined : process.arch])].filter(
  (a) => a !== undefined && !existsSync(a === process.arch ? hostNode : join(root, `.tools/node24-linux-${a}/bin/node`)),
);
if (needed.length > 0) execFileSync('bash', [join(root, 'scripts/fetch-node24.sh'), ...needed], { stdio: 'inherit' });
if (!existsSync(node)) fail(`no Node.js binary at ${node}: run \`bash scripts/fetch-node24.sh ${arch}\`, or set SEA_NODE_BINARY`);
const nodeVersion = embeddedNodeVersion(node);
// The SEA blob must come from the same Node version as the binary it goes into; for a foreign arch it is made
// by this machine's Node 24 (allowed because that blob carries no code cache and no snapshot).
const blobNode = arch === process.arch ? node : hostNode;
const blobNodeVersion = execFileSync(blobNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
if (blobNodeVersion !== nodeVersion) fail(`blob made by Node ${blobNodeVersion} but the embedded binary is Node ${nodeVersion}`);
const major = Number(nodeVersion.split('.')[0]);

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
execFileSync(process.execPath, [join(root, 'scripts/gen-proto.mjs')], { stdio: 'inherit' });
execFileSync(process.execPath, [join(root, 'scripts/gen-build-info.mjs')], { stdio: 'inherit' });

const bundled = await build({
  metafile: true,
  entryPoints: [join(root, 'src/main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: `node${major}`,
  format: 'cjs',
  sourcemap: false,
  // Minified: about 4 MB less resident memory and faster parsing at start-up. Error and class names
  // the plugin relies on are set explicitly (KmsError.name), not taken from function names.
  minify: true,
  legalComments: 'eof',
  tsconfig: join(root, 'tsconfig.json'),
  logLevel: 'warning',
});

const seaConfig = join(outDir, 'sea-config.json');
writeFileSync(
  seaConfig,
  JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    // V8's code cache of the bundle, made by the same Node binary: start-up skips compiling what runs at once.
    // Only for this machine's arch (a cache is tied to the binary that made it; see blobNode above).
    useCodeCache: arch === process.arch,
    useSnapshot: false,
    // SIGUSR1 must never open the inspector (docs/security.md): a Node flag baked into the executable, and
    // execArgvExtension "none" so NODE_OPTIONS cannot add flags such as --inspect (test/e2e/artifact-sigusr1).
    // V8's heap, sized for a process whose live data is a few MiB (in-flight requests are capped at 4 MiB,
    // src/adapters/grpc/in-flight-limit.ts) inside the manifests' 256Mi limit. By default the young
    // generation grows to 16 MiB per semi-space under a storm of 200 concurrent calls and the old generation
    // is collected only once it has grown far (its limit follows the machine's RAM), and neither shrinks
    // back: peak RSS under the benchmark's storms was 240-265 MiB in -dev mode. With a 1 MiB semi-space and
    // a 128 MiB old space it was 108-114 MiB, for a few more (short) collections (docs/benchmarks.md). A
    // heap that outgrows 128 MiB fails as "JavaScript heap out of memory" before the kubelet's OOM kill.
    execArgv: ['--disable-sigusr1', '--max-semi-space-size=1', '--max-old-space-size=128'],
    execArgvExtension: 'none',
  }),
);
execFileSync(blobNode, ['--experimental-sea-config', seaConfig], { stdio: 'inherit' });
copyFileSync(node, exe);
chmodSync(exe, 0o755);
injectBlob();
rmSync(blob);
rmSync(seaConfig);

writeFileSync(sbom, JSON.stringify(bundledSbom(bundledPackages(bundled.metafile)), null, 2) + '\n');
const mb = (p) => (statSync(p).size / 1024 / 1024).toFixed(1);
console.log(`artifact: ${exe} (linux-${arch}, Node.js ${nodeVersion}, ${mb(exe)} MiB; bundle ${mb(bundle)} MiB); SBOM ${sbom}`);

/**
 * postject puts the blob into the copy of node. On Linux it prints "warning: Can't find string offset for section
 * name '.note.100'" (and '.note') about ten times: LIEF, which postject uses, cannot name the ELF note sections the
 * official Node binaries carry; the sections are left as they are, and the executable is tested whole by the suite
 * (KMS_PLUGIN_BIN). Those lines and postject's progress lines are dropped; anything else it says is shown.
 */
function injectBlob() {
  const args = [join(root, 'node_modules/postject/dist/cli.js'), exe, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'];
  const res = spawnSync(process.execPath, args, { encoding: 'utf8' });
  const expected = [/^warning: Can't find string offset for section name '\.note(\.\d+)?'$/, /^Start injection of NODE_SEA_BLOB in .*\.\.\.$/, /Injection done!$/];
  const said = `${res.stdout ?? ''}\n${res.stderr ?? ''}`
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !expected.some((re) => re.test(l)));
  if (said.length > 0) process.stderr.write(said.map((l) => `postject: ${l}\n`).join(''));
  if (res.status !== 0) fail(`postject failed (exit ${res.status ?? res.signal})`);
}

// The version of a Node binary: asked directly when it runs here, else read from its npm package.
function embeddedNodeVersion(bin) {
  if (arch === process.arch) return execFileSync(bin, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  const pkg = join(dirname(dirname(realpathSync(bin))), 'package.json');
  if (!existsSync(pkg)) fail(`cannot tell the Node version of ${bin} (no ${pkg})`);
  return JSON.parse(readFileSync(pkg, 'utf8')).version;
}

// The npm packages esbuild put into the bundle ("name@version"), from its metafile: exactly what the executable carries.
function bundledPackages(metafile) {
  const out = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (!m) continue;
    const pkg = JSON.parse(readFileSync(join(root, m[1], 'package.json'), 'utf8'));
    out.add(`${pkg.name}@${pkg.version}`);
  }
  return out;
}

// CycloneDX from `npm sbom` over the whole tree, cut down to the packages in the bundle (`--omit dev` is not used:
// npm 11 drops protobufjs and its dependencies with it, because a dev dependency also depends on it), with the top
// component named after the package (npm names it after the folder) and the embedded Node.js runtime added.
function bundledSbom(packages) {
  const out = execFileSync('npm', ['sbom', '--sbom-format', 'cyclonedx'], { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const doc = JSON.parse(out);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const top = doc.metadata.component;
  top.name = pkg.name;
  top.type = 'application';
  doc.components = doc.components.filter((c) => packages.has(`${c.name}@${c.version}`));
  const missing = [...packages].filter((p) => !doc.components.some((c) => `${c.name}@${c.version}` === p));
  if (missing.length > 0) fail(`npm sbom does not list bundled packages: ${missing.join(', ')}`);
  const kept = new Set([top['bom-ref'], ...doc.components.map((c) => c['bom-ref'])]);
  doc.dependencies = (doc.dependencies ?? [])
    .filter((d) => kept.has(d.ref))
    .map((d) => ({ ...d, dependsOn: (d.dependsOn ?? []).filter((r) => kept.has(r)) }));
  const runtimeRef = `node-linux-${arch}@${nodeVersion}`;
  doc.components.push({
    'bom-ref': runtimeRef,
    type: 'platform',
    name: 'node',
    version: nodeVersion,
    description: `Node.js runtime embedded in the executable (npm package node-linux-${arch})`,
    purl: `pkg:npm/node-linux-${arch}@${nodeVersion}`,
    licenses: [{ license: { id: 'MIT' } }],
  });
  const topDeps = doc.dependencies.find((d) => d.ref === top['bom-ref']);
  if (topDeps) topDeps.dependsOn = [...topDeps.dependsOn, runtimeRef];
  return doc;
}

function fail(msg) {
  console.error(`build-artifact: ${msg}`);
  process.exit(1);
}
