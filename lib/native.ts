// Loads the compiled addon: a prebuilt binary for this platform if one ships, else the local build.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SeqsamError } from './errors.js';

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

export interface RuntimeInfo {
  torchVersion: string;
  cuda: boolean;
  cudaDevices: number;
  builtWithCuda: boolean;
  threads: number;
  interopThreads: number;
  blasThreads: number;
  hardwareThreads: number;
  parallelInfo: string;
  cxx11Abi: boolean;
}

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
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
  readTorchCheckpoint(path: string): Promise<NamedNativeTensors>;
  readSafetensors(path: string, dataStart: number, entries: SafetensorsEntry[]): Promise<NamedNativeTensors>;
  writeSafetensors(path: string, header: string, tensors: NativeTensor[]): Promise<void>;
  [name: string]: unknown;
}

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function candidates(): string[] {
  const platform = `${process.platform}-${process.arch}`;
  const fromEnv = process.env.SEQSAM_BINARY ? [resolve(process.env.SEQSAM_BINARY)] : [];
  return [
    ...fromEnv,
    join(packageRoot, 'build', 'Release', 'seqsam.node'),
    join(packageRoot, 'build', 'Debug', 'seqsam.node'),
    join(packageRoot, 'prebuilds', platform, 'seqsam.node'),
  ];
}

let loaded: { addon: NativeAddon; path: string } | undefined;

export function loadAddon(): { addon: NativeAddon; path: string } {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const tried: string[] = [];
  for (const path of candidates()) {
    if (!existsSync(path)) {
      tried.push(`${path} (missing)`);
      continue;
    }
    try {
      loaded = { addon: require(path) as NativeAddon, path };
      return loaded;
    } catch (error) {
      tried.push(`${path} (${(error as Error).message.split('\n')[0]})`);
    }
  }
  throw new SeqsamError(
    'ERR_NATIVE',
    `seqsam: the native addon could not be loaded. Run 'npm run build' (needs LibTorch). Tried:\n  ${tried.join('\n  ')}`,
  );
}

export function addon(): NativeAddon {
  return loadAddon().addon;
}
