// Process-wide settings of the native runtime: threads, seeds, and what was loaded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { SeqsamError, nativeSync } from './errors.js';
import { addon, loadAddon, packageRoot, type RuntimeInfo } from './native.js';

export interface SeqsamInfo extends RuntimeInfo {
  version: string;
  binary: string;
  node: string;
  platform: string;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

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

export interface ThreadOptions {
  // LibTorch intra-op threads (default: the machine's cores).
  torch?: number;
  // OpenBLAS's own pool. LibTorch calls BLAS from its own threads, so both at full width oversubscribe.
  blas?: number;
}

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

export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new SeqsamError('ERR_ARGUMENT', `manualSeed: seed must be a non-negative integer (got ${seed})`);
  nativeSync(() => addon().manualSeed(seed));
}

// Free and total bytes of a CUDA device ('cuda', 'cuda:1'), as the driver counts them; null without CUDA.
export function cudaMemory(device = 'cuda'): { free: number; total: number } | null {
  const match = /^cuda(?::(\d+))?$/.exec(device);
  if (!match) throw new SeqsamError('ERR_DEVICE', `cudaMemory: '${device}' is not a CUDA device (use 'cuda' or 'cuda:N')`);
  return nativeSync(() => addon().cudaMemory(Number(match[1] ?? 0)));
}

// Native tensors alive right now and the CPU bytes they hold: a leak check for long-running pipelines.
export function tensorStats(): { live: number; bytes: number } {
  return addon().tensorStats();
}
