// Training and evaluation of SeqSAM (and its baselines) from cached image embeddings.
export { train, epochOrder, sampleRng, readTrainerState, removeCheckpoints, lowerIsBetter } from './trainer.js';
export type { TrainOptions, TrainResult, TrainerState, ProgressEvent, EvaluationEvent, BestMetric } from './trainer.js';
export { evaluate, modelGeometry, targetTensors } from './evaluate.js';
export type { EvaluateOptions, EvaluationResult } from './evaluate.js';
export { evaluateSharded } from './sharded-evaluate.js';
export { EmbeddingCache, encoderFingerprint, fingerprintTensors, cacheDevice, deviceReserveBytes } from './embedding-cache.js';
export type { EmbeddingCacheOptions, EmbeddingCacheStats, EncoderModel, CachePlacement } from './embedding-cache.js';
export { constant, linear, cosine, createSchedule, describeSchedule } from './schedules.js';
export type { Schedule, ScheduleSpec } from './schedules.js';
export { createProgressBar, renderProgress, formatDuration } from './progress-bar.js';
export type { ProgressBar, ProgressBarEvent, ProgressBarOptions } from './progress-bar.js';
export { prepareSample, prepareTargets, prepareImage, tightBox, resizedSize, lowResIndex } from '../data/prepare.js';
export type { PrepareOptions, PrepareImageOptions, PreparedSample, PreparedTargets, BoxSource, IntensityMode } from '../data/prepare.js';
