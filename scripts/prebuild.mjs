#!/usr/bin/env node
// `npm run prebuild`: puts the addon built here into prebuilds/<platform>-<arch>-<variant>/ with the
// metadata the loader matches against the LibTorch it finds on the user's machine.
//   node scripts/prebuild.mjs [--no-build] [--binary PATH]
//   --no-build     package the current build as it is (default: bring the build up to date first)
//   --binary PATH  package this binary instead of build/Release/seqsam.node
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { testLoad } from './prebuild-probe.mjs';
import { platformKey, prebuildsDir, sourceHash, variantTag } from './prebuild-variant.mjs';
import { describeTorch, findTorchCmakeDir } from './torch-config.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

function die(message) {
  process.stderr.write(`seqsam prebuild: ${message}\n`);
  process.exit(1);
}

// npm also runs a script named `prebuild` before `npm run build`, with the same environment; the npm
// process's own arguments tell the two apart (Linux /proc; elsewhere the step simply runs).
function runByNpmBuild() {
  let pid = process.ppid;
  for (let depth = 0; depth < 4 && pid > 1; depth++) {
    try {
      // npm sets its process title to `npm run <script>`, which replaces its argv in one string.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/).filter(Boolean);
      const run = argv.findIndex((a) => a === 'run' || a === 'run-script' || a === 'rum');
      if (run >= 0 && /npm/.test(argv.slice(0, run).join(' '))) return argv[run + 1] === 'build';
      pid = Number(/PPid:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return false;
    }
  }
  return false;
}

if (process.env.npm_lifecycle_event === 'prebuild' && runByNpmBuild()) process.exit(0);

if (!flag('--no-build') && !option('--binary')) {
  const setup = spawnSync(process.execPath, [join(root, 'scripts', 'setup.mjs'), '--quiet'], { stdio: 'inherit' });
  if (setup.status !== 0) die('the build failed');
}
const binary = resolve(option('--binary') ?? join(root, 'build', 'Release', 'seqsam.node'));

// What the binary itself reports is the truth about it; the discovery adds what it cannot know.
const verdict = testLoad(binary);
if (!verdict.ok) die(`${binary} does not load: ${verdict.reason}`);
const runtime = verdict.runtime;
const found = findTorchCmakeDir();
const torch = found ? describeTorch(found) : null;
const napiVersion = Number(/NAPI_VERSION=(\d+)/.exec(readFileSync(join(root, 'CMakeLists.txt'), 'utf8'))?.[1] ?? 8);
const cudaVersion = runtime.builtWithCuda ? (torch?.cudaVersion ?? null) : null;
const variant = variantTag({ version: runtime.torchVersion, cuda: runtime.builtWithCuda, cudaVersion });

const metadata = {
  package: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version,
  platform: process.platform,
  arch: process.arch,
  variant,
  torchVersion: runtime.torchVersion,
  cuda: runtime.builtWithCuda,
  cudaVersion,
  cxx11Abi: runtime.cxx11Abi,
  napiVersion,
  // The LibTorch folder the binary's rpath points at; another location needs it on the library path.
  torchLibDir: torch?.libDir ?? null,
  sourceHash: sourceHash(root),
  createdAt: new Date().toISOString(),
};

const folder = join(prebuildsDir(root), `${platformKey()}-${variant}`);
mkdirSync(folder, { recursive: true });
// Temp file + rename: a loader running meanwhile sees the old binary or the new one, never half of one.
const temp = join(folder, `.seqsam.node.${process.pid}`);
copyFileSync(binary, temp);
renameSync(temp, join(folder, 'seqsam.node'));
writeFileSync(join(folder, 'seqsam.json'), `${JSON.stringify(metadata, null, 2)}\n`);
process.stdout.write(`${relative(root, folder)}: ${variant} (LibTorch ${metadata.torchVersion}, ${metadata.cuda ? `CUDA ${cudaVersion ?? ''}` : 'CPU'}, C++11 ABI ${metadata.cxx11Abi}, Node-API ${napiVersion})\n`);
