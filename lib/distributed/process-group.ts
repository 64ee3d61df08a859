// Joining a torch.distributed (c10d) process group from JS: a TCPStore at the master (rank 0 hosts it),
// Gloo for CPU tensors or NCCL for CUDA ones. Once joined, every native training step of this process
// averages its gradients across the group (as DistributedDataParallel), so every rank must take the same
// steps; the trainer (train.train({ distributed })) arranges that.
import { SeqsamError, nativeCall, nativeSync } from '../errors.js';
import { addon, type NativeTensor } from '../native.js';

/** How this process joins a group. */
export interface DistributedOptions {
  /** This process's rank, 0..worldSize-1. */
  rank: number;
  worldSize: number;
  /** Where rank 0 hosts the store (default 127.0.0.1). */
  masterAddr?: string;
  /** The store's port (default 29500). */
  masterPort?: number;
  /** Bound on joining and on every collective: a lost rank or a missing one fails within it (default 60000). */
  timeoutMs?: number;
  /** 'gloo' (CPU tensors, default) or 'nccl' (CUDA tensors; CUDA builds only). */
  backend?: 'gloo' | 'nccl';
  /** The CUDA device of this rank with NCCL (default: its local rank, else 0). */
  deviceIndex?: number;
  /** This rank's index on its machine (torchrun's LOCAL_RANK); picks the GPU with NCCL. */
  localRank?: number;
}

/** A joined group, as the native side reports it. */
export interface DistributedGroup {
  rank: number;
  worldSize: number;
  backend: string;
  localRank: number;
}

interface NativeDistributed {
  available: boolean;
  unavailableReason: string;
  init(options: Record<string, unknown>): Promise<{ rank: number; worldSize: number; backend: string }>;
  current(): { rank: number; worldSize: number; backend: string } | null;
  barrier(): Promise<void>;
  allReduceSum(values: Float64Array): Promise<Float64Array>;
  agree(what: string, digest: string): Promise<void>;
  broadcast(tensors: NativeTensor[], root: number): Promise<void>;
  destroy(): void;
}

function native(): NativeDistributed {
  return (addon() as unknown as { distributed: NativeDistributed }).distributed;
}

let joined: DistributedGroup | null = null;

/** Whether this binary has torch.distributed, and why not. */
export function available(): { available: boolean; reason: string } {
  const d = native();
  return { available: d.available, reason: d.unavailableReason };
}

/** Joins the group (rank 0 first hosts the store); ERR_DISTRIBUTED names the rank at fault, within timeoutMs. */
export async function init(options: DistributedOptions): Promise<DistributedGroup> {
  if (!options || typeof options !== 'object') throw new SeqsamError('ERR_ARGUMENT', 'distributed.init(options): options must be an object');
  const d = native();
  if (!d.available) throw new SeqsamError('ERR_DISTRIBUTED', d.unavailableReason);
  const localRank = options.localRank ?? 0;
  const info = await nativeCall(() =>
    d.init({
      rank: options.rank,
      worldSize: options.worldSize,
      masterAddr: options.masterAddr,
      masterPort: options.masterPort,
      timeoutMs: options.timeoutMs,
      backend: options.backend,
      deviceIndex: options.deviceIndex ?? localRank,
    }),
  );
  joined = { ...info, localRank };
  return joined;
}

/** The group this process joined, or null. */
export function current(): DistributedGroup | null {
  return joined;
}

/** Waits for every rank (bounded by the timeout). */
export async function barrier(): Promise<void> {
  await nativeCall(() => native().barrier());
}

/** The element-wise sum of `values` over the ranks (every rank passes the same length). */
export async function allReduceSum(values: Float64Array): Promise<Float64Array> {
  return nativeCall(() => native().allReduceSum(values));
}

/** Refuses (ERR_DISTRIBUTED naming the ranks) unless every rank passes the same digest for `what`. */
export async function agree(what: string, digest: string): Promise<void> {
  await nativeCall(() => native().agree(what, digest));
}

/** In place: every rank's `tensors` end with rank `root`'s values (bounded by the timeout). */
export async function broadcastNative(tensors: NativeTensor[], root = 0): Promise<void> {
  await nativeCall(() => native().broadcast(tensors, root));
}

/** Leaves the group; call barrier() before for an orderly end (rank 0 hosts the store the others use). */
export function destroy(): void {
  nativeSync(() => native().destroy());
  joined = null;
}
