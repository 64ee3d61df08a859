// The environment torchrun (and Slurm or Kubernetes wrappers in its style) sets for each worker.
import { SeqsamError } from '../errors.js';
import type { DistributedOptions } from './process-group.js';
import type { EnvironmentVariables } from '../platform-types.js';

function integer(env: EnvironmentVariables, name: string, fallback?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new SeqsamError('ERR_ARGUMENT', `distributed.fromEnv: ${name} is not set`);
  }
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 0) throw new SeqsamError('ERR_ARGUMENT', `distributed.fromEnv: ${name} must be a non-negative integer (got '${raw}')`);
  return v;
}

/** Whether the environment describes a multi-process job (WORLD_SIZE set). */
export function inDistributedEnv(env: EnvironmentVariables = process.env): boolean {
  return env.WORLD_SIZE !== undefined && env.WORLD_SIZE !== '';
}

/**
 * Join options from RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (plus SEQSAM_DIST_TIMEOUT_MS),
 * as torchrun sets them; `overrides` win.
 */
export function fromEnv(env: EnvironmentVariables = process.env, overrides: Partial<DistributedOptions> = {}): DistributedOptions {
  const worldSize = integer(env, 'WORLD_SIZE');
  if (worldSize < 1) throw new SeqsamError('ERR_ARGUMENT', 'distributed.fromEnv: WORLD_SIZE must be at least 1');
  const rank = integer(env, 'RANK');
  if (rank >= worldSize) throw new SeqsamError('ERR_ARGUMENT', `distributed.fromEnv: RANK ${rank} is outside WORLD_SIZE ${worldSize}`);
  return {
    rank,
    worldSize,
    localRank: integer(env, 'LOCAL_RANK', 0),
    masterAddr: env.MASTER_ADDR || '127.0.0.1',
    masterPort: integer(env, 'MASTER_PORT', 29500),
    timeoutMs: integer(env, 'SEQSAM_DIST_TIMEOUT_MS', 60000),
    ...overrides,
  };
}
