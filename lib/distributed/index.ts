// Data-parallel training and embedding over torch.distributed (c10d).
export { available, init, current, barrier, allReduceSum, agree, destroy, type DistributedOptions, type DistributedGroup } from './process-group.js';
export { fromEnv, inDistributedEnv } from './torchrun-env.js';
export { rankBatch, stepsPerEpoch, strideShard } from './shard.js';
export { broadcastWeights } from './model-broadcast.js';
export { launchLocalRanks, type LaunchOptions } from './local-launch.js';
