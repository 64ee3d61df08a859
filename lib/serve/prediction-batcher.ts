// Predictions from concurrent HTTP requests, sharing native decoder calls: each request's prompt joins the
// stream's decoder queue (lib/model/stream/batch-queue.ts), grouped with others of the same image size, M and
// prompt kind, and a group runs as one call (lib/model/stream/decoder-batch.ts) when it fills batchSize or its
// oldest prompt has waited maxDelayMs. One lane issues the calls one after another, as the native model
// runs one at a time anyway; it sleeps while nothing is queued.
import { SeqsamError } from '../errors.js';
import type { ImageEmbedding } from '../model/embedding.js';
import { packPrompts, type Box, type Point } from '../model/prompts.js';
import type { SeqSam, SeqSamPrediction } from '../model/seqsam.js';
import { BatchQueue } from '../model/stream/batch-queue.js';
import { decoderKey, runDecoderBatch, type DecoderJob } from '../model/stream/decoder-batch.js';
import { deferred, Wakeup } from '../model/stream/deferred.js';
import { promptKindOf } from '../model/stream/stream-request.js';

/** One request's prompt, in original-image pixels, and M. */
export interface BatchedPrompt {
  box?: Box;
  points?: Point[];
  pointLabels?: number[];
  numMasks: number;
}

/** How the server batches predictions. */
export interface BatchingOptions {
  /** Prompts per native decoder call, 1..64 (1 turns batching off). */
  batchSize: number;
  /** How long a partial batch waits for company, ms (0..60000). */
  maxDelayMs: number;
}

/** 8 prompts a call, waiting at most 5 ms. */
export const defaultBatching: BatchingOptions = { batchSize: 8, maxDelayMs: 5 };

/** A long-lived decoder batcher over one model, for requests that arrive one by one. */
export class PredictionBatcher {
  readonly #queue: BatchQueue<DecoderJob>;
  readonly #changed = new Wakeup();
  #lane: Promise<void> = Promise.resolve();
  #laneRunning = false;
  #closed = false;

  constructor(
    readonly model: SeqSam,
    options: BatchingOptions = defaultBatching,
  ) {
    this.#queue = new BatchQueue<DecoderJob>(options.batchSize, options.maxDelayMs);
  }

  /** The prediction for one prompt (the caller disposes it); the embedding must stay alive until it settles. */
  async predict(embedding: ImageEmbedding, prompt: BatchedPrompt): Promise<SeqSamPrediction> {
    if (this.#closed) throw new SeqsamError('ERR_ABORTED', 'the server is stopping');
    // Checked alone first, with predict's own messages: a bad prompt is refused here instead of failing
    // the batch it would have joined.
    const [height, width] = embedding.originalSize;
    packPrompts(prompt, width, height).dispose();
    const result = deferred<SeqSamPrediction>();
    const job: DecoderJob = { checked: { ...prompt, promptKind: promptKindOf(prompt.box, prompt.points) }, embedding, result };
    this.#queue.add(decoderKey(job), job);
    this.#changed.notify();
    if (!this.#laneRunning) {
      this.#laneRunning = true;
      this.#lane = this.#runLane();
    }
    return result.promise;
  }

  async #runLane(): Promise<void> {
    try {
      while (!this.#closed && this.#queue.length > 0) {
        const now = performance.now();
        const jobs = this.#queue.take(now, false);
        if (jobs) {
          await runDecoderBatch(this.model, jobs);
          continue;
        }
        const wake = this.#changed.wait();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([wake, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, this.#queue.nextDeadline() - now))))]);
        clearTimeout(timer);
      }
    } finally {
      // In the same tick as the empty-queue check: a prompt added after it starts a fresh lane.
      this.#laneRunning = false;
    }
  }

  /** Refuses new prompts, waits for the native call in progress, and rejects what is still queued. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#changed.notify();
    await this.#lane;
    for (const job of this.#queue.drain()) job.result.reject(new SeqsamError('ERR_ABORTED', 'the server stopped before this prompt was decoded'));
  }
}
