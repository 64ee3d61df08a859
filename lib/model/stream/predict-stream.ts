// Batched streaming inference: requests in, predictions out in input order.
//
// Each request is keyed by content (image-key.ts); its embedding comes from the cache or is encoded, then
// its prompt is decoded. Encoder and decoder work queue up by what lets requests share a native call and
// run in batches of up to batchSize, a partial batch waiting at most maxDelayMs. The native model runs one
// call at a time (it holds a lock), so a single lane issues the calls one after another: while one runs,
// the JS side goes on reading, hashing and decoding (sharp, off the main thread) and forming the next
// batch, so the lane never waits for input it could have had. Decoder batches go before encoder ones: they
// finish requests, which frees room in flight for new ones.
//
// Backpressure: at most maxInFlight requests are between being read off the source and being taken by the
// consumer; at the bound the source is not read, so a slow consumer holds memory constant.
import type { AbortSignalLike } from '../../platform-types.js';
import { SeqsamError, isSeqsamError } from '../../errors.js';
import { decodeImage } from '../image-input.js';
import { packPrompts } from '../prompts.js';
import type { SeqSam, SeqSamPrediction } from '../seqsam.js';
import { checkNumber } from '../../validate.js';
import { BatchQueue } from './batch-queue.js';
import { runDecoderBatch, decoderKey, type DecoderJob } from './decoder-batch.js';
import { deferred, Wakeup } from './deferred.js';
import { EmbeddingCache, type EmbeddingLease } from './embedding-cache.js';
import { encoderKey, runEncoderBatch, type EncoderJob } from './encoder-batch.js';
import { keyImage } from './image-key.js';
import { checkStreamRequest } from './stream-request.js';
import type { PredictStreamOptions, StreamOutput, StreamRequest, StreamResult } from './types.js';

interface Settings {
  batchSize: number;
  maxDelayMs: number;
  maxInFlight: number;
  cacheBytes: number;
  errors: 'throw' | 'yield';
}

const optionNames = new Set(['batchSize', 'maxDelayMs', 'maxInFlight', 'cacheBytes', 'signal', 'errors', 'image']);

function checkOptions(options: PredictStreamOptions): Settings {
  if (options === null || typeof options !== 'object') throw new SeqsamError('ERR_ARGUMENT', 'predictStream: options must be an object');
  for (const key of Object.keys(options)) {
    if (!optionNames.has(key)) throw new SeqsamError('ERR_ARGUMENT', `predictStream: options.${key} is not an option (known: ${[...optionNames].join(', ')})`);
  }
  const batchSize = checkNumber('predictStream: options.batchSize', options.batchSize ?? 8, { min: 1, max: 64, integer: true });
  const maxDelayMs = checkNumber('predictStream: options.maxDelayMs', options.maxDelayMs ?? 5, { min: 0, max: 60_000 });
  const maxInFlight = checkNumber('predictStream: options.maxInFlight', options.maxInFlight ?? 4 * batchSize, { min: 1, max: 65_536, integer: true });
  const cacheBytes = checkNumber('predictStream: options.cacheBytes', options.cacheBytes ?? 256 * 2 ** 20, { min: 0 });
  const errors = options.errors ?? 'throw';
  if (errors !== 'throw' && errors !== 'yield') throw new SeqsamError('ERR_ARGUMENT', `predictStream: options.errors must be 'throw' or 'yield' (got ${String(errors)})`);
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new SeqsamError('ERR_ARGUMENT', 'predictStream: options.signal must be an AbortSignal');
  return { batchSize, maxDelayMs, maxInFlight, cacheBytes, errors };
}

function asError(error: unknown): SeqsamError {
  return isSeqsamError(error) ? error : new SeqsamError('ERR_NATIVE', (error as Error)?.message ?? String(error), { cause: error });
}

function sourceIterator(source: AsyncIterable<StreamRequest> | Iterable<StreamRequest>): AsyncIterator<StreamRequest> | Iterator<StreamRequest> {
  if (source && typeof (source as AsyncIterable<StreamRequest>)[Symbol.asyncIterator] === 'function') return (source as AsyncIterable<StreamRequest>)[Symbol.asyncIterator]();
  if (source && typeof (source as Iterable<StreamRequest>)[Symbol.iterator] === 'function') return (source as Iterable<StreamRequest>)[Symbol.iterator]();
  throw new SeqsamError('ERR_ARGUMENT', 'predictStream: source must be an async iterable or an iterable of requests');
}

function abortError(signal: AbortSignalLike): SeqsamError {
  return new SeqsamError('ERR_ABORTED', 'predictStream was aborted', { cause: signal.reason });
}

/**
 * Predictions for a stream of requests, in input order, batched and with embeddings reused for repeated
 * images (see PredictStreamOptions). Each StreamResult is the caller's to dispose. Leaving the loop early
 * (break, throw) or aborting the signal stops reading the source and disposes whatever is still held.
 */
export async function* predictStream(
  model: SeqSam,
  source: AsyncIterable<StreamRequest> | Iterable<StreamRequest>,
  options: PredictStreamOptions = {},
): AsyncGenerator<StreamOutput, void, undefined> {
  const settings = checkOptions(options);
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  const iterator = sourceIterator(source);
  const cache = new EmbeddingCache(settings.cacheBytes);
  const encoderQueue = new BatchQueue<EncoderJob>(settings.batchSize, settings.maxDelayMs);
  const decoderQueue = new BatchQueue<DecoderJob>(settings.batchSize, settings.maxDelayMs);
  const finished = new Map<number, StreamOutput>();
  const changed = new Wakeup(); // any progress: a request finished, queued, taken, or the source moved
  let read = 0; // requests taken off the source
  let taken = 0; // outputs handed to the consumer
  let sourceDone = false;
  let fatal: SeqsamError | null = null; // ends the stream at once (abort, a broken source)
  let sourceErrorAt = -1; // the source threw after this many requests
  let sourceError: SeqsamError | null = null;
  let stopped = false;
  let lane: Promise<void> = Promise.resolve();
  let reader: Promise<void> = Promise.resolve();
  const requestsRunning = new Set<Promise<void>>();

  const onAbort = () => {
    fatal ??= abortError(signal!);
    changed.notify();
  };
  signal?.addEventListener('abort', onAbort, { once: true });

  const inFlight = () => read - taken;
  // Waiting longer cannot grow a batch: the source is spent, or the in-flight bound holds it back.
  const flushing = () => sourceDone || inFlight() >= settings.maxInFlight;

  async function handle(index: number, raw: unknown, started: number): Promise<void> {
    let lease: EmbeddingLease | undefined;
    let output: StreamOutput;
    try {
      const checked = checkStreamRequest(`request ${index}`, raw);
      const keyed = await keyImage(`request ${index}.image`, checked.request.image, options.image);
      if (stopped) return;
      lease = cache.lookup(keyed.key);
      if (!lease) {
        const reservation = cache.reserve(keyed.key);
        lease = reservation.lease;
        try {
          const image = await decodeImage(keyed.input, options.image);
          if (stopped) {
            image.tensor.dispose();
            reservation.reject(new SeqsamError('ERR_ABORTED', 'predictStream stopped before this image was encoded'));
            return;
          }
          encoderQueue.add(encoderKey(image), { image, reservation });
          changed.notify();
        } catch (error) {
          reservation.reject(error);
        }
      }
      const embedding = await lease.embedding();
      // The prompt against the image's size, with predict's own checks and messages, before it can take a
      // batch down with it.
      const [height, width] = embedding.originalSize;
      const prompt = { box: checked.box, points: checked.points, pointLabels: checked.pointLabels };
      try {
        packPrompts(prompt, width, height).dispose();
      } catch (error) {
        const e = asError(error);
        throw new SeqsamError(e.code, `request ${index}: ${e.message}`, { cause: e });
      }
      if (stopped) return;
      const result = deferred<SeqSamPrediction>();
      const job = { checked, embedding, result };
      decoderQueue.add(decoderKey(job), job);
      changed.notify();
      const prediction = await result.promise;
      output = Object.assign(prediction, { index, cached: lease.hit, latencyMs: performance.now() - started }) as StreamResult;
    } catch (error) {
      output = { index, error: asError(error) };
    } finally {
      lease?.release();
    }
    if (stopped) {
      if ('dispose' in output) output.dispose();
      return;
    }
    finished.set(index, output);
    changed.notify();
  }

  async function readSource(): Promise<void> {
    while (!stopped && !sourceDone) {
      if (inFlight() >= settings.maxInFlight) {
        await changed.wait();
        continue;
      }
      let next: IteratorResult<StreamRequest>;
      try {
        next = await iterator.next();
      } catch (error) {
        sourceError = asError(error);
        sourceErrorAt = read;
        sourceDone = true;
        changed.notify();
        return;
      }
      if (next.done) {
        sourceDone = true;
        changed.notify();
        return;
      }
      if (stopped) return;
      const index = read++;
      const running = handle(index, next.value, performance.now());
      requestsRunning.add(running);
      void running.finally(() => requestsRunning.delete(running));
    }
  }

  async function runLane(): Promise<void> {
    while (!stopped) {
      const now = performance.now();
      const decoderJobs = decoderQueue.take(now, flushing());
      if (decoderJobs) {
        await runDecoderBatch(model, decoderJobs);
        continue;
      }
      const encoderJobs = encoderQueue.take(now, flushing());
      if (encoderJobs) {
        await runEncoderBatch(model, encoderJobs);
        continue;
      }
      const due = Math.min(decoderQueue.nextDeadline(), encoderQueue.nextDeadline());
      const wake = changed.wait();
      if (due === Infinity) {
        await wake;
      } else {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([wake, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, due - now))))]);
        clearTimeout(timer);
      }
    }
  }

  try {
    reader = readSource();
    lane = runLane();
    for (;;) {
      if (fatal) throw fatal;
      const output = finished.get(taken);
      if (output) {
        finished.delete(taken);
        taken++;
        changed.notify(); // room in flight: the reader may go on
        if ('error' in output && settings.errors === 'throw') throw output.error;
        yield output;
        continue;
      }
      if (sourceError && taken === sourceErrorAt) throw sourceError;
      if (sourceDone && taken === read) return;
      await changed.wait();
    }
  } finally {
    stopped = true;
    signal?.removeEventListener('abort', onAbort);
    changed.notify();
    // Stop the source (a generator runs its finally blocks; not awaited, as a source stuck in next() would
    // hold us here), wait for the native call in progress, then dispose what nobody will take: queued
    // pixels, finished results, cached embeddings.
    if (!sourceDone) void Promise.resolve().then(() => iterator.return?.()).catch(() => {});
    await lane;
    for (const job of encoderQueue.drain()) {
      job.image.tensor.dispose();
      job.reservation.reject(new SeqsamError('ERR_ABORTED', 'predictStream stopped before this image was encoded'));
    }
    for (const job of decoderQueue.drain()) job.result.reject(new SeqsamError('ERR_ABORTED', 'predictStream stopped before this prompt was decoded'));
    await Promise.allSettled([...requestsRunning]);
    for (const output of finished.values()) if ('dispose' in output) output.dispose();
    finished.clear();
    cache.clear();
    void reader;
  }
}
