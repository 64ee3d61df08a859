// seqsam: Segment Anything with a recurrent mask decoder, on LibTorch.
export * from './disposable.js';
export type { AbortSignalLike, FileUrl } from './platform-types.js';
export { SeqsamError, isSeqsamError, type ErrorCode } from './errors.js';
export { Tensor, disposeAll, type DType, type NamedTensors, type AnyTypedArray } from './tensor.js';
export { info, setThreads, manualSeed, tensorStats, cudaMemory, packageVersion, type SeqsamInfo, type ThreadOptions } from './runtime.js';
export * as checkpoint from './checkpoint/index.js';
export * as ops from './ops.js';
export * as profile from './profile.js';
export { Sam, type SamPrediction, type SamPredictOptions } from './model/sam.js';
export { SeqSam, type TrainingOptions, type TrainBatch, type StepResult, type SeqSamPrediction, type SeqSamPredictOptions } from './model/seqsam.js';
export { ImageEmbedding } from './model/embedding.js';
export { presets, tinyConfig, type SamConfig, type SamPreset } from './model/config.js';
export type { ModelOptions, Precision } from './model/native-model.js';
export type { ImageInput, ImageOptions, RawPixels } from './model/image-input.js';
export type { PromptInput, Point, Box } from './model/prompts.js';
export * as data from './data/index.js';
export * as metrics from './metrics.js';
export * as train from './train/index.js';
export { PredictTransform } from './stream/predict-transform.js';
export type { StreamRequest, PredictStreamOptions, StreamResult, StreamFailure, StreamOutput } from './stream/types.js';

export * as distributed from './distributed/index.js';
