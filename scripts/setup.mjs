#!/usr/bin/env node
// Makes a clone ready to run: LibTorch (Debian packages when missing and root), npm dependencies,
// the native build and the TypeScript build — each step skipped when already up to date.
//   node scripts/setup.mjs [--force-build] [--quiet] [--install] [--test]
// Without a local build, a fitting prebuilt binary (prebuilds/) is used instead of building;
// SEQSAM_NO_BUILD=1 never builds.
// --install is npm's install hook (for `npm install seqsam` and `npx seqsam`): npm is installing the
// dependencies itself, so they are only looked up, never reinstalled.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

import { runBuild } from './build-progress.mjs';
import { probe } from './prebuild-probe.mjs';
import { sourceHash } from './prebuild-variant.mjs';
import { nativeSources } from './torch-config.mjs';
import { defaultGroupCount, unityGroups } from './unity-groups.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const forceBuild = args.has('--force-build');
const installHook = args.has('--install');
const require = createRequire(join(root, 'package.json'));
const debianPackages = ['libtorch-dev', 'libopenblas0-pthread', 'libgloo-dev'];

function say(message) {
  process.stderr.write(`seqsam setup: ${message}\n`);
}

function run(command, commandArgs, options = {}) {
  const started = Date.now();
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', ...options });
  if (result.status !== 0) {
    process.stderr.write(`seqsam setup: '${command} ${commandArgs.join(' ')}' failed (exit ${result.status ?? result.signal})\n`);
    process.exit(result.status || 1);
  }
  return (Date.now() - started) / 1000;
}

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : 0;
}

function dpkgInstalled(name) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function ensureDebianPackages() {
  if (!existsSync('/etc/debian_version') || process.env.SEQSAM_SKIP_APT) return;
  const missing = debianPackages.filter((p) => !dpkgInstalled(p));
  if (missing.length === 0) return;
  // A LibTorch found elsewhere (Torch_DIR, LIBTORCH, python's torch) makes libtorch-dev optional, and libgloo-dev
  // (Gloo's headers for torch.distributed must then match that LibTorch's own Gloo).
  const torchElsewhere = Boolean(process.env.Torch_DIR || process.env.LIBTORCH);
  const needed = torchElsewhere ? missing.filter((p) => p !== 'libtorch-dev' && p !== 'libgloo-dev') : missing;
  if (needed.length === 0) return;
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      `seqsam setup: missing Debian packages: ${needed.join(' ')}\n` +
        `  install them with: sudo apt-get update && sudo apt-get install -y ${needed.join(' ')}\n` +
        '  (or point Torch_DIR / LIBTORCH at another LibTorch)\n',
    );
    process.exit(1);
  }
  say(`installing ${needed.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const seconds = run('apt-get', ['update', '-q'], { env }) + run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...needed], { env });
  say(`apt-get took ${seconds.toFixed(0)} s`);
}

function resolvable(name) {
  try {
    return require.resolve(`${name}/package.json`);
  } catch {
    return null;
  }
}

function ensureNodeModules() {
  if (installHook) return;
  const marker = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(marker) && mtime(marker) >= mtime(join(root, 'package-lock.json'))) return;
  say('installing npm dependencies (npm ci)');
  const seconds = run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts']);
  say(`npm ci took ${seconds.toFixed(0)} s`);
}

// Without a local build, a prebuilt binary that fits the LibTorch here, loads (in a child process) and
// was made from these very sources makes the build unnecessary — an install needs no compiler.
function usablePrebuild() {
  const report = probe(root);
  const chosen = report.tried.find((t) => t.binary === report.chosen);
  if (!chosen) {
    for (const t of report.tried) say(`prebuilt ${t.name} does not fit: ${t.reason}`);
    return false;
  }
  if (chosen.sourceHash !== sourceHash(root)) {
    say(`prebuilt ${chosen.name} was made from other sources than these; building instead`);
    return false;
  }
  if (!quiet) say(`using the prebuilt binary ${chosen.name}`);
  return true;
}

async function ensureNativeBuild() {
  const binary = join(root, 'build', 'Release', 'seqsam.node');
  const sources = Math.max(newestMtime(join(root, 'native')), mtime(join(root, 'CMakeLists.txt')), mtime(join(root, 'scripts', 'unity-groups.mjs')));
  if (!forceBuild && mtime(binary) > sources) return;
  if (!forceBuild && !existsSync(binary) && usablePrebuild()) return;
  if (process.env.SEQSAM_NO_BUILD) {
    say('SEQSAM_NO_BUILD is set: not building the native addon (seqsam will say what it needs when loaded)');
    return;
  }
  say('building the native addon (cmake-js)');
  const cmakeJsPackage = resolvable('cmake-js');
  if (!cmakeJsPackage) {
    process.stderr.write("seqsam setup: cmake-js is not installed; run 'npm ci' first\n");
    process.exit(1);
  }
  const cmakeJs = join(dirname(cmakeJsPackage), 'bin', 'cmake-js');
  const jobs = String(Math.max(1, availableParallelism()));
  const groups = Object.fromEntries(unityGroups(nativeSources(), defaultGroupCount()).map((sources, i) => [`g${i}`, sources]));
  mkdirSync(join(root, 'build'), { recursive: true });
  const logFile = join(root, 'build', 'build.log');
  try {
    const seconds = await runBuild(process.execPath, [cmakeJs, 'compile', '--out', 'build', '--parallel', jobs], { cwd: root, logFile, say, groups });
    say(`native build took ${seconds.toFixed(0)} s (log: build/build.log)`);
  } catch (e) {
    say(e.message);
    process.exit(1);
  }
}

function ensureTypeScript() {
  const marker = join(root, 'dist', 'lib', 'index.js');
  // A published package ships dist/ and not the TypeScript sources.
  if (!existsSync(join(root, 'lib')) && existsSync(marker)) return;
  const sources = Math.max(newestMtime(join(root, 'lib')), mtime(join(root, 'tsconfig.json')));
  if (mtime(marker) > sources && newestMtime(join(root, 'dist')) >= sources) return;
  const typescript = resolvable('typescript');
  if (!typescript) {
    // A published package ships dist/; only a source checkout compiles it.
    if (existsSync(marker)) return;
    process.stderr.write("seqsam setup: TypeScript is not installed and dist/ is missing; run 'npm ci' first\n");
    process.exit(1);
  }
  say('compiling TypeScript (tsc)');
  const tsc = join(dirname(typescript), 'bin', 'tsc');
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
}

// For the test run only (--test, from npm's pretest): Debian's Chromium for the page's browser test,
// installed when missing and root; otherwise that test skips and says why.
function ensureTestBrowser() {
  if (!args.has('--test') || !existsSync('/etc/debian_version') || process.env.SEQSAM_SKIP_APT || existsSync('/usr/bin/chromium')) return;
  if (process.getuid?.() !== 0) {
    say("the browser test will skip: no /usr/bin/chromium (install it with: sudo apt-get install -y chromium)");
    return;
  }
  say('installing chromium for the browser test (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const seconds = run('apt-get', ['update', '-q'], { env }) + run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { env });
  say(`apt-get took ${seconds.toFixed(0)} s`);
}

// Files tsc does not copy: the page `seqsam serve` serves, beside its compiled code.
function copyPageAssets() {
  const page = join(root, 'lib', 'serve', 'page');
  if (existsSync(page)) cpSync(page, join(root, 'dist', 'lib', 'serve', 'page'), { recursive: true });
}

const started = Date.now();
ensureDebianPackages();
ensureTestBrowser();
ensureNodeModules();
await ensureNativeBuild();
ensureTypeScript();
copyPageAssets();
if ((Date.now() - started) > 2000) say(`ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
