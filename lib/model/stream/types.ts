// The shapes predictStream takes and gives.
import type { SeqsamError } from '../../errors.js';
import type { ImageInput, ImageOptions } from '../image-input.js';
import type { Box, Point } from '../prompts.js';
import type { SeqSamPrediction } from '../seqsam.js';
import type { AbortSignalEvents } from '../../platform-types.js';

/** One request of a prediction stream: an image and its prompt (a box and/or points) and M. */
export interface StreamRequest {
  image: ImageInput;
  box?: Box;
  points?: Point[];
  // 1 foreground, 0 background, -1 ignore; every point is foreground when omitted
  pointLabels?: number[];
  // M, the masks to generate (default 4)
  numMasks?: number;
}

/** How predictStream batches, caches, bounds its memory and stops. */
export interface PredictStreamOptions {
  // Requests per native call, encoder and decoder alike (1..64, default 8).
  batchSize?: number;
  // How long a partial batch waits for company before it runs (ms, default 5).
  maxDelayMs?: number;
  // Requests read from the source and not yet handed to the consumer (default 4 × batchSize): the bound
  // that makes a slow consumer stall the source instead of growing memory.
  maxInFlight?: number;
  // Memory for embeddings kept for repeated images, by content (bytes, default 256 MiB; 0 keeps none).
  cacheBytes?: number;
  // Aborting ends the stream with ERR_ABORTED; everything it still holds is disposed.
  signal?: AbortSignalEvents;
  // 'throw' (default): a refused request ends the stream at its position with its error; 'yield': it
  // comes out as a StreamFailure in its place and the stream goes on.
  errors?: 'throw' | 'yield';
  // Intensity window for non-8-bit raw images (as for embed).
  image?: ImageOptions;
}

/** A prediction for the request at `index` (0-based input position); the caller disposes it. */
export interface StreamResult extends SeqSamPrediction {
  index: number;
  // the embedding came from the cache (an image seen before) rather than the encoder
  cached: boolean;
  // ms from reading the request off the source to the result being ready
  latencyMs: number;
}

/** A refused request, in its place, when `errors: 'yield'`. */
export interface StreamFailure {
  index: number;
  error: SeqsamError;
}

export type StreamOutput = StreamResult | StreamFailure;
