#!/usr/bin/env node
// Compiles every native/**/*.cu on its own with nvcc (no LibTorch, no GPU needed), to prove the CUDA sources
// build on machines whose LibTorch is CPU-only. With --emulate it also builds and runs
// test/cuda/hungarian_emulation.cc: the GPU assignment solver's code (native/cuda/hungarian_solver.cuh) on
// the host, its warp emulated, against the CPU solver (needs a C++ compiler, neither nvcc nor LibTorch).
//   node scripts/compile-cuda.mjs [--emulate[=PROBLEMS,FIBER_PROBLEMS]] [--require-nvcc]
// Architectures: TORCH_CUDA_ARCH_LIST ("9.0", "8.0;9.0a", "9.0+PTX"), else 9.0 (H100).
// Without nvcc the compile step is reported as skipped (exit 0) unless --require-nvcc.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const emulateArg = args.find((a) => a === '--emulate' || a.startsWith('--emulate='));
const requireNvcc = args.includes('--require-nvcc');

function findNvcc() {
  const candidates = [process.env.CUDACXX];
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) candidates.push(join(dir, 'nvcc'));
  candidates.push(process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'bin', 'nvcc'), '/usr/local/cuda/bin/nvcc');
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

function cudaSources(dir = join(root, 'native')) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...cudaSources(path));
    else if (entry.name.endsWith('.cu')) out.push(path);
  }
  return out.sort();
}

// "8.0;9.0a 9.0+PTX" -> nvcc -gencode flags (the same reading as Torch's TORCH_CUDA_ARCH_LIST).
function gencodeFlags(list) {
  const flags = [];
  for (const item of list.split(/[;\s]+/).filter(Boolean)) {
    const match = /^(\d+)\.(\d+)([af]?)(\+PTX)?$/.exec(item);
    if (!match) throw new Error(`TORCH_CUDA_ARCH_LIST: cannot read '${item}'`);
    const arch = `${match[1]}${match[2]}${match[3]}`;
    flags.push('-gencode', `arch=compute_${arch},code=sm_${arch}`);
    if (match[4]) flags.push('-gencode', `arch=compute_${arch},code=compute_${arch}`);
  }
  return flags;
}

// Runs a command without blocking, so that the nvcc compiles and the host emulation build run side by side.
function run(command, commandArgs) {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(command, commandArgs, { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (error) => done({ status: -1, stdout, stderr: `${stderr}${error.message}\n`, seconds: (Date.now() - started) / 1000 }));
    child.on('close', (status) => done({ status, stdout, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

// Each part collects its lines and its verdict; the parts print in order once all are done.
async function compileStandalone(lines) {
  const say = (m) => lines.push(`compile-cuda: ${m}\n`);
  const nvcc = findNvcc();
  const sources = cudaSources();
  if (!nvcc) {
    say(`nvcc not found: ${sources.length} .cu file(s) not compiled (skipped)`);
    return !requireNvcc;
  }
  const version = /release (\S+),/.exec(execFileSync(nvcc, ['--version'], { encoding: 'utf8' }))?.[1] ?? '?';
  const archList = process.env.TORCH_CUDA_ARCH_LIST || '9.0';
  const arch = gencodeFlags(archList);
  say(`nvcc ${version} (${nvcc}), TORCH_CUDA_ARCH_LIST=${archList}`);
  let ok = true;
  for (const source of sources) {
    const object = join(work, `${basename(source)}.o`);
    const flags = ['-std=c++17', '-O3', '-Werror', 'all-warnings', `-I${join(root, 'native')}`, ...arch, '-c', source, '-o', object];
    const result = await run(nvcc, flags);
    const rel = relative(root, source);
    if (result.status === 0) {
      say(`ok   ${rel} (${result.seconds.toFixed(1)} s): nvcc ${flags.map((f) => (f.startsWith(root) ? relative(root, f) : f)).join(' ')}`);
      if (result.stderr.trim()) lines.push(result.stderr);
    } else {
      ok = false;
      say(`FAIL ${rel}\n${result.stdout}${result.stderr}`);
    }
  }
  return ok;
}

// The kernel's solver as host code (torch-free), linked with the CPU solver it must equal.
async function emulate(lines, arg) {
  const say = (m) => lines.push(`compile-cuda: ${m}\n`);
  const [problems = '100000', fibers = '300'] = arg.includes('=') ? arg.split('=')[1].split(',') : [];
  const cxx = process.env.CXX || 'g++';
  const binary = join(work, 'hungarian_emulation');
  const flags = ['-std=c++17', '-O2', '-Wall', '-Werror', `-I${join(root, 'native')}`, join(root, 'test', 'cuda', 'hungarian_emulation.cc'),
    join(root, 'native', 'seqsam', 'assignment_solver.cc'), '-o', binary];
  const compiled = await run(cxx, flags);
  if (compiled.status !== 0) {
    say(`FAIL ${cxx} ${flags.join(' ')}\n${compiled.stdout}${compiled.stderr}`);
    return false;
  }
  say(`emulation: built with ${cxx} (${compiled.seconds.toFixed(1)} s); ${problems} lockstep + ${fibers} fiber problems`);
  const result = await run(binary, [problems, fibers]);
  lines.push(result.stdout + result.stderr);
  say(`emulation ${result.status === 0 ? 'ok' : 'FAILED'} (${result.seconds.toFixed(1)} s)`);
  return result.status === 0;
}

const work = mkdtempSync(join(tmpdir(), 'seqsam-cuda-'));
let failed = false;
try {
  const parts = [compileStandalone];
  if (emulateArg) parts.push((lines) => emulate(lines, emulateArg));
  const logs = parts.map(() => []);
  const verdicts = await Promise.all(parts.map((part, i) => part(logs[i])));
  for (const lines of logs) process.stdout.write(lines.join(''));
  failed = verdicts.includes(false);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
