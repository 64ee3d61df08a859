// Loads the compiled addon: SEQSAM_BINARY, the local build, or the prebuilt binary that fits the LibTorch found.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SeqsamError } from './errors.js';
import { loadError, type Attempt } from './load-error.js';
import { probePrebuilds } from './prebuild-select.js';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: string;
  readonly device: string;
  readonly byteLength: number;
  readonly disposed: boolean;
  dispose(): void;
  toBuffer(): Promise<ArrayBuffer>;
  to(device?: string, dtype?: string): Promise<NativeTensor>;
}

export type NamedNativeTensors = Record<string, NativeTensor>;

/** The LibTorch runtime as the native addon reports it (part of `info()`'s result). */
export interface RuntimeInfo {
  /** The LibTorch version the addon was built against. */
  torchVersion: string;
  /** Whether CUDA is usable now (a CUDA build on a machine with a CUDA device). */
  cuda: boolean;
  /** CUDA devices visible (0 without CUDA). */
  cudaDevices: number;
  /** Whether the addon was built with CUDA support. */
  builtWithCuda: boolean;
  /**
   * Whether this build can replay the training step and SeqSAM's rollout from CUDA graphs (a CUDA build
   * made with the CMake option SEQSAM_CUDA_GRAPHS, on by default). `ModelOptions.cudaGraphs` and the
   * environment variable `SEQSAM_CUDA_GRAPHS=0` turn their use off.
   */
  cudaGraphs: boolean;
  /** LibTorch intra-op threads. */
  threads: number;
  /** LibTorch inter-op threads. */
  interopThreads: number;
  /** OpenBLAS threads; -1 when the process has no OpenBLAS. */
  blasThreads: number;
  /** Threads the machine runs at once (`std::thread::hardware_concurrency`). */
  hardwareThreads: number;
  /** LibTorch's own description of its parallel backends (`at::get_parallel_info()`). */
  parallelInfo: string;
  /** Whether LibTorch uses the C++11 ABI of libstdc++. */
  cxx11Abi: boolean;
}

/** One tensor of a safetensors header. */
export interface SafetensorsEntry {
  /** The tensor's name. */
  name: string;
  /** The safetensors dtype: `F32`, `F16`, `BF16`, `F64`, `I64`, `I32`, `I16`, `I8`, `U8` or `BOOL`. */
  dtype: string;
  /** The tensor's sizes. */
  shape: number[];
  /** Start of its bytes, relative to the data section. */
  begin: number;
  /** End (exclusive) of its bytes, relative to the data section. */
  end: number;
}

// The raw addon surface. Only lib/ talks to it; users see the classes built on top.
export interface NativeAddon {
  NativeTensor: new () => NativeTensor;
  tensorFromTypedArray(data: ArrayBufferView, shape: number[], dtype: string, device: string): NativeTensor;
  runtimeInfo(): RuntimeInfo;
  tensorStats(): { live: number; bytes: number };
  setThreads(torch: number, blas: number): void;
  manualSeed(seed: number): void;
  cudaMemory(index: number): { free: number; total: number } | null;
  profileStart(withCuda: boolean): void;
  profileStop(): string;
  readTorchCheckpoint(path: string): Promise<NamedNativeTensors>;
  readSafetensors(path: string, dataStart: number, entries: SafetensorsEntry[]): Promise<NamedNativeTensors>;
  writeSafetensors(path: string, header: string, tensors: NativeTensor[]): Promise<void>;
  [name: string]: unknown;
}

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type AddonSource = 'SEQSAM_BINARY' | 'local build' | 'prebuild';

let loaded: { addon: NativeAddon; path: string; source: AddonSource } | undefined;

function firstLine(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0];
}

// Order: SEQSAM_BINARY (used alone: it is an explicit choice), the local build (compiled here against
// this LibTorch, and newer than any prebuild in a source checkout), then the prebuild that fits the
// LibTorch found, after a test load in a child process.
export function loadAddon(): { addon: NativeAddon; path: string; source: AddonSource } {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const attempt = (path: string, source: AddonSource) => {
    loaded = { addon: require(path) as NativeAddon, path, source };
    return loaded;
  };
  if (process.env.SEQSAM_BINARY) {
    const path = resolve(process.env.SEQSAM_BINARY);
    try {
      return attempt(path, 'SEQSAM_BINARY');
    } catch (error) {
      throw new SeqsamError('ERR_NATIVE', `seqsam: SEQSAM_BINARY=${path} could not be loaded: ${firstLine(error)}`, { cause: error });
    }
  }
  const attempts: Attempt[] = [];
  for (const path of [join(packageRoot, 'build', 'Release', 'seqsam.node'), join(packageRoot, 'build', 'Debug', 'seqsam.node')]) {
    if (!existsSync(path)) continue;
    try {
      return attempt(path, 'local build');
    } catch (error) {
      attempts.push({ path, reason: firstLine(error) });
    }
  }
  if (!attempts.length) attempts.push({ path: join(packageRoot, 'build', 'Release', 'seqsam.node'), reason: 'not built' });
  const report = probePrebuilds(packageRoot);
  for (const t of report.tried) attempts.push({ path: t.binary, reason: t.ok ? 'loads' : (t.reason ?? 'not tried') });
  if (report.chosen) {
    try {
      return attempt(report.chosen, 'prebuild');
    } catch (error) {
      const entry = attempts.find((a) => a.path === report.chosen);
      if (entry) entry.reason = `loaded in a child process but not here: ${firstLine(error)}`;
    }
  }
  throw loadError(attempts, report);
}

export function addon(): NativeAddon {
  return loadAddon().addon;
}
