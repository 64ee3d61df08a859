// predictStream as a Node object-mode Transform: requests written in, StreamOutputs read out, in order.
// Backpressure runs both ways: a write completes only once predictStream has taken the request (so at most
// maxInFlight wait inside), and results are not pulled from predictStream while the readable side is full.
import { Transform, type TransformCallback } from 'node:stream';

import type { SeqSam } from '../seqsam.js';
import { AsyncQueue } from './async-queue.js';
import { deferred, type Deferred } from './deferred.js';
import { predictStream } from './predict-stream.js';
import type { PredictStreamOptions, StreamOutput, StreamRequest } from './types.js';

/** An object-mode Transform over predictStream; outputs read and not consumed stay the reader's to dispose. */
export class PredictTransform extends Transform {
  readonly #requests = new AsyncQueue<StreamRequest>(1);
  readonly #stop = new AbortController();
  #readWanted: Deferred<void> | null = null;
  readonly #pumped: Promise<void>;

  constructor(model: SeqSam, options: PredictStreamOptions = {}) {
    super({ objectMode: true, highWaterMark: options.batchSize ?? 8 });
    // predictStream accepts only real AbortSignals (it checks), so the caller's is one here.
    const signal = options.signal ? AbortSignal.any([options.signal as AbortSignal, this.#stop.signal]) : this.#stop.signal;
    this.#pumped = this.#pump(predictStream(model, this.#requests, { ...options, signal }));
  }

  async #pump(outputs: AsyncGenerator<StreamOutput>): Promise<void> {
    try {
      for await (const output of outputs) {
        if (this.destroyed) {
          if ('dispose' in output) output.dispose();
          break;
        }
        if (!this.push(output)) {
          this.#readWanted = deferred<void>();
          await this.#readWanted.promise;
        }
      }
    } catch (error) {
      this.destroy(error as Error);
    }
  }

  override _transform(request: StreamRequest, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#requests.push(request).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.#requests.close();
    // Once the last result is pushed; the Transform then ends its readable side.
    this.#pumped.then(() => callback(), callback);
  }

  override _read(size: number): void {
    const waiter = this.#readWanted;
    this.#readWanted = null;
    waiter?.resolve();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    this.#stop.abort(error ?? undefined);
    this.#requests.close();
    const waiter = this.#readWanted;
    this.#readWanted = null;
    waiter?.resolve();
    this.#pumped.finally(() => callback(error));
  }
}
