// Segment Anything: the frozen image encoder, the prompt encoder and the mask decoder.
import { nativeCall } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { ImageEmbedding } from './embedding.js';
import { ModelBase, createNativeModel, type ModelOptions } from './native-model.js';
import { packPrompts, type PromptInput } from './prompts.js';

export interface SamPrediction extends Disposable {
  // (B, C, H, W) logits at the original image size; a pixel is foreground where > 0
  masks: Tensor;
  // (B, C, 4h, 4w) low-res logits: feed one back as `maskInput`
  lowResLogits: Tensor;
  // (B, C) predicted IoU of each mask
  iou: Tensor;
  dispose(): void;
}

export interface SamPredictOptions extends PromptInput {
  // Three masks (SAM's ambiguity heads) instead of one (default: true for a single point, else false).
  multimask?: boolean;
}

export function prediction(masks: Tensor, lowResLogits: Tensor, iou: Tensor): SamPrediction {
  const dispose = () => {
    masks.dispose();
    lowResLogits.dispose();
    iou.dispose();
  };
  return { masks, lowResLogits, iou, dispose, [Symbol.dispose]: dispose };
}

export class Sam extends ModelBase {
  // Builds a model (random weights, seeded, unless a checkpoint is given).
  static async load(options: ModelOptions = {}): Promise<Sam> {
    const sam = new Sam(createNativeModel(options));
    try {
      if (options.checkpoint) await sam.loadWeights(options.checkpoint, 'sam', options.strict ?? true);
    } catch (error) {
      sam.dispose();
      throw error;
    }
    return sam;
  }

  async predict(embedding: ImageEmbedding, prompt: SamPredictOptions): Promise<SamPrediction> {
    const [height, width] = embedding.originalSize;
    const packed = packPrompts(prompt, width, height, this.device);
    const singlePoint = !prompt.box && !prompt.boxes && (prompt.points?.length ?? 0) === 1;
    try {
      const handle = this.handle;
      const out = await nativeCall(() =>
        handle.predict(embedding.tensor.handle, packed.tensors, {
          originalSize: embedding.originalSize,
          inputSize: embedding.inputSize,
          multimask: prompt.multimask ?? singlePoint,
          numMasks: 0,
        }),
      );
      return prediction(new Tensor(out.masks), new Tensor(out.lowResLogits), new Tensor(out.iou));
    } finally {
      packed.dispose();
    }
  }

  async save(path: string): Promise<void> {
    await this.saveTensors(path, 'sam', {}, { model: 'sam' });
  }
}
