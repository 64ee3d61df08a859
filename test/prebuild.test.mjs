// Prebuilt binaries: variant tags and metadata matching, the loader's choice in a package without a
// local build, the cached verdict, and load failures that name the LibTorch found, every binary tried
// and what to do — including a binary that crashes while loading, which must not take the host down.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { mismatch, variantTag } from '../scripts/prebuild-variant.mjs';
import { describeTorch, findTorchCmakeDir } from '../scripts/torch-config.mjs';
import { tempDir } from './helpers.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const builtBinary = join(root, 'build', 'Release', 'seqsam.node');

// A copy of the package as npm installs it: dist/, scripts/, native/, no build/.
function fakePackage(t) {
  const dir = tempDir(t, 'seqsam-prebuild-');
  cpSync(join(root, 'dist', 'lib'), join(dir, 'dist', 'lib'), { recursive: true });
  cpSync(join(root, 'scripts'), join(dir, 'scripts'), { recursive: true });
  cpSync(join(root, 'native'), join(dir, 'native'), { recursive: true });
  for (const file of ['package.json', 'CMakeLists.txt']) cpSync(join(root, file), join(dir, file));
  return dir;
}

function loadIn(dir) {
  const script = `import(${JSON.stringify(pathToFileURL(join(dir, 'dist', 'lib', 'native.js')).href)})
    .then((m) => { const r = m.loadAddon(); console.log(JSON.stringify({ path: r.path, source: r.source, torch: r.addon.runtimeInfo().torchVersion })); })
    .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
  // SEQSAM_BINARY would bypass the choice under test.
  const env = { ...process.env };
  delete env.SEQSAM_BINARY;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 120_000, env });
  assert.equal(r.status, 0, `the host process survives (${r.signal ?? r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

function addPrebuild(dir, name, binary, metadata) {
  const folder = join(dir, 'prebuilds', name);
  mkdirSync(folder, { recursive: true });
  if (typeof binary === 'string') cpSync(binary, join(folder, 'seqsam.node'));
  else writeFileSync(join(folder, 'seqsam.node'), binary);
  writeFileSync(join(folder, 'seqsam.json'), JSON.stringify(metadata));
}

const torch113 = { version: '1.13.0', cuda: false, cudaVersion: null, cxx11Abi: true };
const meta = (over = {}) => ({ platform: process.platform, arch: process.arch, torchVersion: '1.13.0', cuda: false, cxx11Abi: true, napiVersion: 8, ...over });

// The LibTorch this machine has, found as the loader finds it (the child processes below inherit this
// environment), or null. "Ours" is the variant a binary built against it carries; "other" is one built
// for another LibTorch line.
const foundTorch = findTorchCmakeDir();
const torch = foundTorch ? describeTorch(foundTorch) : null;
const noTorch = torch ? false : 'no LibTorch was found on this machine';
const ours = `${process.platform}-${process.arch}-${variantTag(torch ?? torch113)}`;
const oursMeta = torch ? meta({ torchVersion: torch.version, cuda: torch.cuda, cudaVersion: torch.cudaVersion, cxx11Abi: torch.cxx11Abi ?? true }) : meta();
const otherTorch = torch?.version?.startsWith('2.5.') ? { version: '2.4.1', cudaVersion: '12.1' } : { version: '2.5.1', cudaVersion: '12.4' };
const other = `${process.platform}-${process.arch}-${variantTag({ ...otherTorch, cuda: true })}`;
const otherMeta = meta({ torchVersion: otherTorch.version, cuda: true, cudaVersion: otherTorch.cudaVersion });
const escape = (s) => String(s).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// How the load error states that LibTorch (lib/load-error.ts), e.g. "LibTorch: 1.13.0 CPU-only, C++11 ABI,
// found via system at /usr/lib/…" or "LibTorch: 2.11.0 CUDA 12.8, C++11 ABI, found via LIBTORCH at /opt/…".
function torchLine(t) {
  if (!t) return /LibTorch: not found/;
  const kind = t.cuda ? `CUDA${t.cudaVersion ? ` ${t.cudaVersion}` : ''}` : 'CPU-only';
  const abi = t.cxx11Abi === null ? '' : `, ${t.cxx11Abi ? 'C++11' : 'pre-C++11'} ABI`;
  return new RegExp(escape(`LibTorch: ${t.version ?? '(unknown version)'} ${kind}${abi}, found via ${t.source} at ${t.cmakeDir}`));
}

test('variant tags name the LibTorch line a binary needs', () => {
  assert.equal(variantTag(torch113), 'torch1.13-cpu');
  assert.equal(variantTag({ version: '2.5.1', cuda: true, cudaVersion: '12.4' }), 'torch2.5-cuda12');
});

test('metadata matching explains every mismatch', () => {
  assert.equal(mismatch(meta(), torch113), null);
  assert.equal(mismatch(meta({ torchVersion: '1.13.1' }), torch113), null, 'patch releases are compatible');
  assert.match(mismatch(meta({ torchVersion: '2.5.1' }), torch113), /built for LibTorch 2\.5\.1, found 1\.13\.0/);
  assert.match(mismatch(meta({ cuda: true }), torch113), /CUDA LibTorch, found a CPU-only one/);
  assert.match(mismatch(meta({ cxx11Abi: false }), torch113), /pre-C\+\+11/);
  assert.match(mismatch(meta({ arch: 'riscv64' }), torch113), /built for linux-riscv64|built for .*-riscv64/);
  assert.match(mismatch(meta({ napiVersion: 99 }), torch113), /Node-API 99/);
  assert.match(mismatch(meta(), null), /none was found/);
  assert.match(mismatch(null, torch113), /no readable seqsam\.json/);
});

test('a package without a local build loads the fitting prebuild, then from the cached verdict', { skip: !existsSync(builtBinary) }, (t) => {
  const dir = fakePackage(t);
  const made = spawnSync(process.execPath, [join(dir, 'scripts', 'prebuild.mjs'), '--binary', builtBinary], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const [variant] = made.stdout.split(':');
  addPrebuild(dir, other, builtBinary, otherMeta);
  const first = loadIn(dir);
  assert.equal(first.source, 'prebuild', JSON.stringify(first));
  assert.equal(first.path, join(dir, variant, 'seqsam.node'));
  assert.ok(existsSync(join(dir, 'prebuilds', '.load-verdict.json')));
  // With the probe gone, only the cache can answer.
  renameSync(join(dir, 'scripts', 'prebuild-probe.mjs'), join(dir, 'scripts', 'prebuild-probe.off'));
  assert.equal(loadIn(dir).source, 'prebuild');
  // A changed binary invalidates the verdict.
  writeFileSync(join(dir, variant, 'seqsam.node'), readFileSync(builtBinary).subarray(0, 1000));
  const after = loadIn(dir);
  assert.equal(after.code, 'ERR_NATIVE');
  assert.match(after.message, /prebuild probe .* failed/);
});

test('no binary loads: the error names the LibTorch found, each binary and why, and the fix', (t) => {
  const dir = fakePackage(t);
  addPrebuild(dir, ours, Buffer.from('not an ELF file'), oursMeta);
  addPrebuild(dir, other, Buffer.from('x'), otherMeta);
  const r = loadIn(dir);
  assert.equal(r.code, 'ERR_NATIVE');
  assert.match(r.message, torchLine(torch));
  assert.match(r.message, /build\/Release\/seqsam\.node: not built/);
  if (torch) {
    assert.match(r.message, new RegExp(`${escape(ours)}/seqsam\\.node: .*(too short|invalid ELF|not an ELF)`));
    assert.match(r.message, new RegExp(`${escape(other)}/seqsam\\.node: built for LibTorch ${escape(otherTorch.version)}, found ${escape(torch.version)}`));
  } else {
    assert.match(r.message, new RegExp(`${escape(other)}/seqsam\\.node: needs LibTorch ${escape(otherTorch.version)}, none was found`));
  }
  assert.match(r.message, /npm run build/);
  assert.match(r.message, /SEQSAM_BINARY/);
});

test('a binary that crashes while loading is caught in the child process', { skip: noTorch }, (t) => {
  const cc = spawnSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' }).stdout.trim();
  if (!cc) return t.skip('no C compiler to make a crashing library');
  const dir = fakePackage(t);
  const source = join(dir, 'crash.c');
  // A static initialiser that dies, as a LibTorch ABI mismatch can.
  writeFileSync(source, '#include <signal.h>\n__attribute__((constructor)) static void die(void) { raise(SIGSEGV); }\n');
  mkdirSync(join(dir, 'prebuilds', ours), { recursive: true });
  const built = spawnSync(cc, ['-shared', '-fPIC', '-o', join(dir, 'prebuilds', ours, 'seqsam.node'), source]);
  assert.equal(built.status, 0);
  writeFileSync(join(dir, 'prebuilds', ours, 'seqsam.json'), JSON.stringify(oursMeta));
  const r = loadIn(dir);
  assert.equal(r.code, 'ERR_NATIVE');
  assert.match(r.message, /crashed while loading \(SIGSEGV\)/);
  assert.match(r.message, /fits this LibTorch but did not load/);
});
