// Segment Anything: the frozen image encoder, the prompt encoder and the mask decoder.
import { nativeCall } from '../errors.js';
import { Tensor } from '../tensor.js';
import type { ImageEmbedding } from './embedding.js';
import { ModelBase, createNativeModel, type ModelOptions } from './native-model.js';
import { packPrompts, type PromptInput } from './prompts.js';

/**
 * What {@link Sam.predict} returns: B prompts × C masks (C = 3 with `multimask`, else 1), as float32
 * tensors on the model's device. Dispose it (or use `using`) when done.
 */
export interface SamPrediction extends Disposable {
  /** (B, C, H, W) logits at the original image size (H × W pixels); a pixel is foreground where > 0. */
  masks: Tensor;
  /** (B, C, 4h, 4w) low-res logits (4× the embedding grid, 256² for the real models): feed one back as `maskInput`. */
  lowResLogits: Tensor;
  /** (B, C) the model's predicted IoU of each mask. */
  iou: Tensor;
  /** Disposes every tensor of the prediction. */
  dispose(): void;
}

/** A prompt for {@link Sam.predict}, in original-image pixels, plus the number of masks wanted. */
export interface SamPredictOptions extends PromptInput {
  /**
   * Three masks (SAM's ambiguity heads) instead of one. Default: true for a single point without a box,
   * else false.
   */
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

/**
 * Segment Anything: the frozen image encoder, the prompt encoder and the mask decoder, natively. Embed an
 * image once with `embed`, then prompt it any number of times with `predict`.
 */
export class Sam extends ModelBase {
  /**
   * Builds a model: random weights (seeded by `options.seed`) unless `options.checkpoint` is given. A
   * checkpoint's SeqSAM cell tensors (`cell.*`), if any, are ignored. Without `preset` or `config` the
   * architecture is ViT-B.
   */
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

  /**
   * Masks for a prompt on an embedded image. Points and boxes are in the original image's pixels and must lie
   * inside it (`ERR_ARGUMENT` otherwise). An embedding of one image takes any number of prompts (`boxes`,
   * `pointSets`); an embedding of a batch takes one prompt per image.
   */
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

  /** Writes the weights (official SAM names) and the config to a safetensors file, atomically. */
  async save(path: string): Promise<void> {
    await this.saveTensors(path, 'sam', {}, { model: 'sam' });
  }
}
