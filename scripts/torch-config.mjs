#!/usr/bin/env node
// Finds LibTorch for both build paths (cmake-js and node-gyp) in one place.
// Order: Torch_DIR / CMAKE_PREFIX_PATH, the LIBTORCH folder, the torch package of the python3 on PATH,
// then the system (Debian's libtorch-dev).
//   --cmake-dir        print the folder holding TorchConfig.cmake
//   --gyp <field>      print include_dirs | libraries | ldflags | cflags for binding.gyp
//   --json             print everything found
//   --describe         print version, CUDA, C++11 ABI and library folder (no CMake run)
//   --sources          print the native sources (native/**/*.cc), the list both builds compile
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function hasConfig(dir) {
  return Boolean(dir) && (existsSync(join(dir, 'TorchConfig.cmake')) || existsSync(join(dir, 'torch-config.cmake')));
}

function fromPrefix(prefix) {
  for (const sub of ['', 'share/cmake/Torch', 'lib/cmake/Torch', 'lib/x86_64-linux-gnu/cmake/Torch', 'lib/aarch64-linux-gnu/cmake/Torch']) {
    const dir = join(prefix, sub);
    if (hasConfig(dir)) return dir;
  }
  return null;
}

function fromPython() {
  try {
    const out = execFileSync('python3', ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 60_000,
    });
    return fromPrefix(out.toString().trim());
  } catch {
    return null;
  }
}

export function findTorchCmakeDir(env = process.env) {
  const candidates = [
    ['Torch_DIR', () => (hasConfig(env.Torch_DIR) ? env.Torch_DIR : null)],
    ['CMAKE_PREFIX_PATH', () => (env.CMAKE_PREFIX_PATH ?? '').split(':').filter(Boolean).map(fromPrefix).find(Boolean) ?? null],
    ['LIBTORCH', () => (env.LIBTORCH ? fromPrefix(env.LIBTORCH) : null)],
    ['python3 torch', fromPython],
    ['system', () => ['/usr', '/usr/local'].map(fromPrefix).find(Boolean) ?? null],
  ];
  for (const [source, find] of candidates) {
    const dir = find();
    if (dir) return { source, dir };
  }
  return null;
}

// What a prebuilt binary must match, read from the LibTorch files without loading them: the version
// (TorchConfigVersion.cmake), CUDA (libtorch_cuda next to libtorch; the CUDA version from a LIBTORCH
// zip's build-version or python's torch/version.py), the C++11 ABI (TorchConfig.cmake's flags) and the
// folder holding libtorch.
export function describeTorch(found) {
  const read = (path) => (existsSync(path) ? readFileSync(path, 'utf8') : '');
  const versionFile = join(found.dir, 'TorchConfigVersion.cmake');
  const version = /PACKAGE_VERSION\s+"([^"]+)"/.exec(read(versionFile))?.[1] ?? null;
  const config = read(join(found.dir, 'TorchConfig.cmake'));
  const abiFlag = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(config)?.[1];
  const prefix = resolve(found.dir, '..', '..', '..');
  const libDir = [resolve(found.dir, '..', '..'), join(prefix, 'lib')].find((d) => existsSync(join(d, 'libtorch.so')) || existsSync(join(d, 'libtorch.dylib'))) ?? null;
  const cuda = Boolean(libDir) && (existsSync(join(libDir, 'libtorch_cuda.so')) || existsSync(join(libDir, 'libtorch_cuda.dylib')));
  const cudaVersion =
    /\+cu(\d+?)(\d)\b/.exec(read(join(prefix, 'build-version')))?.slice(1, 3).join('.') ??
    /cuda\s*(?::\s*\w+\s*)?=\s*'([\d.]+)'/.exec(read(join(prefix, 'version.py')))?.[1] ??
    null;
  return {
    source: found.source,
    cmakeDir: found.dir,
    versionFile,
    version,
    cuda,
    cudaVersion: cuda ? cudaVersion : null,
    // null when the config does not say (then the load test decides).
    cxx11Abi: abiFlag === undefined ? null : abiFlag === '1',
    libDir,
  };
}

// Asks CMake itself what linking against Torch means (the link line of a probe target), so node-gyp
// links exactly what cmake-js links.
function probe(cmakeDir) {
  const cacheFile = join(root, 'build', 'torch-probe.json');
  if (existsSync(cacheFile)) {
    const cached = JSON.parse(readFileSync(cacheFile, 'utf8'));
    if (cached.cmakeDir === cmakeDir) return cached;
  }
  const work = join(root, 'build', 'torch-probe');
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'probe.cc'), 'int main() { return 0; }\n');
  writeFileSync(join(work, 'CMakeLists.txt'), `cmake_minimum_required(VERSION 3.18)
project(probe LANGUAGES CXX)
find_package(Torch REQUIRED)
add_executable(probe probe.cc)
target_link_libraries(probe \${TORCH_LIBRARIES})
file(WRITE "\${CMAKE_BINARY_DIR}/torch.txt" "\${TORCH_INCLUDE_DIRS}\\n\${TORCH_CXX_FLAGS}\\n\${Torch_VERSION}\\n")
`);
  const out = join(work, 'out');
  execFileSync('cmake', ['-S', work, '-B', out, '-G', 'Unix Makefiles', `-DTorch_DIR=${cmakeDir}`], { stdio: 'ignore' });
  const [inc, flags, version] = readFileSync(join(out, 'torch.txt'), 'utf8').split('\n');
  const linkLine = readFileSync(join(out, 'CMakeFiles', 'probe.dir', 'link.txt'), 'utf8');
  const libraries = [];
  const libDirs = new Set();
  for (const token of linkLine.replaceAll('"', '').split(/\s+/)) {
    if (/^\/.*\.so(\.[\d.]+)?$/.test(token)) {
      libraries.push(token);
      libDirs.add(dirname(token));
    } else if (/^-l\S+$/.test(token)) {
      libraries.push(token);
    } else if (token.startsWith('-Wl,-rpath,')) {
      for (const d of token.slice('-Wl,-rpath,'.length).split(':')) if (d) libDirs.add(d);
    } else if (token.startsWith('-Wl,--no-as-needed') || token.startsWith('-Wl,--as-needed')) {
      libraries.push(token);
    }
  }
  const result = {
    cmakeDir,
    version,
    includeDirs: inc.split(';').filter(Boolean),
    libraries,
    libDirs: [...libDirs],
    cxxFlags: flags.split(/\s+/).filter(Boolean),
  };
  writeFileSync(cacheFile, JSON.stringify(result, null, 2));
  return result;
}

// Relative to the project root, as binding.gyp wants them.
export function nativeSources(dir = 'native') {
  const out = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...nativeSources(rel));
    else if (entry.name.endsWith('.cc')) out.push(rel);
  }
  return out.sort();
}

function main(args) {
  if (args[0] === '--sources') {
    process.stdout.write(nativeSources().join(' ') + '\n');
    return;
  }
  const found = findTorchCmakeDir();
  if (!found) {
    process.stderr.write(
      'seqsam: LibTorch was not found. Set Torch_DIR or LIBTORCH, install PyTorch for python3, ' +
        'or on Debian: apt-get install libtorch-dev libopenblas0-pthread\n',
    );
    process.exit(1);
  }
  if (args[0] === '--describe') {
    process.stdout.write(`${JSON.stringify(describeTorch(found), null, 2)}\n`);
    return;
  }
  if (args[0] === '--cmake-dir') {
    process.stdout.write(`${found.dir}\n`);
    return;
  }
  const info = { source: found.source, ...probe(found.dir) };
  if (args[0] === '--json') {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return;
  }
  if (args[0] === '--gyp') {
    const field = args[1];
    const out = {
      include_dirs: info.includeDirs,
      libraries: info.libraries,
      ldflags: info.libDirs.map((d) => `-Wl,-rpath,${d}`),
      cflags: info.cxxFlags,
    }[field];
    if (!out) throw new Error(`torch-config: unknown gyp field '${field}'`);
    process.stdout.write(out.join(' ') + '\n');
    return;
  }
  process.stderr.write('usage: torch-config.mjs --cmake-dir | --json | --gyp <include_dirs|libraries|ldflags|cflags>\n');
  process.exit(2);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
