// seqsam: Segment Anything with a recurrent mask decoder, on LibTorch.
export { SeqsamError, isSeqsamError, type ErrorCode } from './errors.js';
export { Tensor, disposeAll, type DType, type NamedTensors, type AnyTypedArray } from './tensor.js';
export { info, setThreads, manualSeed, tensorStats, packageVersion, type SeqsamInfo, type ThreadOptions } from './runtime.js';
export * as checkpoint from './checkpoint/index.js';
