// Process-wide settings of the native runtime: threads, seeds, and what was loaded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { SeqsamError, nativeSync } from './errors.js';
import { addon, loadAddon, packageRoot, type RuntimeInfo } from './native.js';

/** What {@link info} reports: the package, the loaded addon and its LibTorch runtime. */
export interface SeqsamInfo extends RuntimeInfo {
  /** This package's version (from its package.json). */
  version: string;
  /** The path of the native addon that was loaded (`SEQSAM_BINARY`, the local build or a prebuild). */
  binary: string;
  /** The Node.js version, `process.version`. */
  node: string;
  /** `<platform>-<arch>`, e.g. `linux-x64`. */
  platform: string;
}

/** This package's version, read from its package.json (does not load the native addon). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Loads the native addon (if not loaded yet) and reports what was loaded and how LibTorch is set up. */
export function info(): SeqsamInfo {
  const { addon: native, path } = loadAddon();
  return {
    version: packageVersion(),
    binary: path,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    ...native.runtimeInfo(),
  };
}

/** Options of {@link setThreads}. Each is an integer from 1 to the machine's hardware threads. */
export interface ThreadOptions {
  /** LibTorch intra-op threads. Default: unchanged (LibTorch starts with the machine's cores). */
  torch?: number;
  /**
   * OpenBLAS's own pool. LibTorch calls BLAS from its own threads, so both at full width oversubscribe.
   * Default: unchanged.
   */
  blas?: number;
}

/**
 * Sets LibTorch's intra-op threads and OpenBLAS's pool for the whole process. A number sets LibTorch's alone.
 * Throws `ERR_ARGUMENT` for a count below 1 or above the machine's hardware threads.
 */
export function setThreads(options: ThreadOptions | number): void {
  const o = typeof options === 'number' ? { torch: options } : options;
  const current = addon().runtimeInfo();
  const torch = o.torch ?? current.threads;
  const blas = o.blas ?? Math.max(1, current.blasThreads);
  // More threads than the machine runs at once only oversubscribe it (1000 made predict 23x slower).
  const most = Math.max(1, current.hardwareThreads);
  for (const [name, value] of [['torch', torch], ['blas', blas]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new SeqsamError('ERR_ARGUMENT', `setThreads: ${name} must be a positive integer (got ${value})`);
    if (value > most) throw new SeqsamError('ERR_ARGUMENT', `setThreads: ${name} must be at most ${most}, the machine's hardware threads (got ${value})`);
  }
  nativeSync(() => addon().setThreads(torch, blas));
}

/** Seeds LibTorch's random generators (CPU and CUDA) for reproducible runs; `seed` is a non-negative safe integer. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new SeqsamError('ERR_ARGUMENT', `manualSeed: seed must be a non-negative integer (got ${seed})`);
  nativeSync(() => addon().manualSeed(seed));
}

/**
 * Free and total bytes of a CUDA device (`'cuda'`, `'cuda:1'`; default `'cuda'`, device 0), as the driver
 * counts them; null without CUDA or for a device index that does not exist. Throws `ERR_DEVICE` for a name that is not a CUDA device.
 */
export function cudaMemory(device = 'cuda'): { free: number; total: number } | null {
  const match = /^cuda(?::(\d+))?$/.exec(device);
  if (!match) throw new SeqsamError('ERR_DEVICE', `cudaMemory: '${device}' is not a CUDA device (use 'cuda' or 'cuda:N')`);
  return nativeSync(() => addon().cudaMemory(Number(match[1] ?? 0)));
}

/**
 * Native tensors alive right now (`live`) and the CPU bytes they hold (`bytes`): a leak check for long-running
 * pipelines.
 */
export function tensorStats(): { live: number; bytes: number } {
  return addon().tensorStats();
}
