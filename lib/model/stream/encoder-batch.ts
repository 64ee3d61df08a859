// One encoder call for several same-size images: the pixels stacked into (B, H, W, 3), each image's
// embedding handed to its cache entry as a (1, C, h, w) tensor of its own.
import { ImageEmbedding } from '../embedding.js';
import type { DecodedImage } from '../image-input.js';
import type { SeqSam } from '../seqsam.js';
import { stack } from '../../ops.js';
import { sliceBatch } from './batch-slice.js';
import type { EmbeddingReservation } from './embedding-cache.js';

export interface EncoderJob {
  image: DecodedImage;
  reservation: EmbeddingReservation;
}

/** Group key: images that can share an encoder call. */
export function encoderKey(image: DecodedImage): string {
  return `${image.height}x${image.width}:${image.tensor.dtype}`;
}

/** Runs the jobs (one group) and settles every reservation; disposes the decoded pixels. */
export async function runEncoderBatch(model: SeqSam, jobs: readonly EncoderJob[]): Promise<void> {
  let pixels = jobs[0].image.tensor;
  try {
    if (jobs.length > 1) pixels = stack(jobs.map((job) => job.image.tensor));
    const batched = await model.embedPixels(pixels);
    if (jobs.length === 1) {
      jobs[0].reservation.fulfil(batched);
      return;
    }
    try {
      jobs.forEach((job, i) => job.reservation.fulfil(new ImageEmbedding(sliceBatch(batched.tensor, i), batched.originalSize, batched.inputSize)));
    } finally {
      batched.dispose();
    }
  } catch (error) {
    for (const job of jobs) job.reservation.reject(error);
  } finally {
    if (pixels !== jobs[0].image.tensor) pixels.dispose();
    for (const job of jobs) job.image.tensor.dispose();
  }
}
