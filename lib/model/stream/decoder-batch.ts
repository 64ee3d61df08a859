// One decoder call for several prompts of the same sizes, M and prompt kind: their embeddings joined into
// (B, C, h, w) (or one (1, C, h, w) when they all share an image, which the decoder broadcasts), the
// outputs split back per request.
import { ImageEmbedding } from '../embedding.js';
import type { PromptInput } from '../prompts.js';
import type { SeqSam, SeqSamPrediction } from '../seqsam.js';
import { cat } from '../../ops.js';
import type { Tensor } from '../../tensor.js';
import { sliceBatch } from './batch-slice.js';
import type { Deferred } from './deferred.js';
import type { DecoderPrompt } from './stream-request.js';

export interface DecoderJob {
  checked: DecoderPrompt;
  embedding: ImageEmbedding;
  result: Deferred<SeqSamPrediction>;
}

/** Group key: prompts that can share a decoder call. */
export function decoderKey(job: Omit<DecoderJob, 'result'>): string {
  const { originalSize, inputSize } = job.embedding;
  return `${originalSize.join('x')}:${inputSize.join('x')}:M${job.checked.numMasks}:${job.checked.promptKind}`;
}

function prediction(masks: Tensor, lowResLogits: Tensor, iou: Tensor, mean: Tensor, variance: Tensor): SeqSamPrediction {
  const dispose = () => {
    for (const t of [masks, lowResLogits, iou, mean, variance]) t.dispose();
  };
  return { masks, lowResLogits, iou, mean, variance, dispose, [Symbol.dispose]: dispose };
}

/** Runs the jobs (one group) and settles every job's result. */
export async function runDecoderBatch(model: SeqSam, jobs: readonly DecoderJob[]): Promise<void> {
  const first = jobs[0];
  const shared = jobs.every((job) => job.embedding === first.embedding);
  let joined: Tensor | null = null;
  try {
    if (!shared) joined = cat(jobs.map((job) => job.embedding.tensor));
    const embedding = joined ? new ImageEmbedding(joined, first.embedding.originalSize, first.embedding.inputSize) : first.embedding;
    const prompt: PromptInput & { numMasks: number } = { numMasks: first.checked.numMasks };
    if (first.checked.box) prompt.boxes = jobs.map((job) => job.checked.box!);
    if (first.checked.points) {
      prompt.pointSets = jobs.map((job) => job.checked.points!);
      prompt.pointLabelSets = jobs.map((job) => job.checked.pointLabels!);
    }
    const out = await model.predict(embedding, prompt);
    if (jobs.length === 1) {
      first.result.resolve(out);
      return;
    }
    try {
      jobs.forEach((job, i) => {
        const parts = [out.masks, out.lowResLogits, out.iou, out.mean, out.variance].map((t) => sliceBatch(t, i));
        job.result.resolve(prediction(parts[0], parts[1], parts[2], parts[3], parts[4]));
      });
    } finally {
      out.dispose();
    }
  } catch (error) {
    for (const job of jobs) job.result.reject(error);
  } finally {
    joined?.dispose();
  }
}
