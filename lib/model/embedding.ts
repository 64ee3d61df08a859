// An image embedding: the frozen encoder's output for one image (or a batch of same-size images), with
// the sizes needed to map masks back onto the original pixels.
import { Tensor } from '../tensor.js';

/**
 * An image embedding: the frozen encoder's output for one image (or a batch of same-size images), with the
 * sizes needed to map masks back onto the original pixels. Made by `embed` / `embedPixels`; prompt it
 * with `predict` any number of times, then dispose it.
 */
export class ImageEmbedding implements Disposable {
  /**
   * @param tensor (B, C, h, w) on the model's device.
   * @param originalSize [height, width] of the image as given.
   * @param inputSize [height, width] after resizing the long side to the encoder size (before padding).
   */
  constructor(
    /** (B, C, h, w) float32 on the model's device (C = `prompt_embed_dim`, h = w = image_size / patch_size). */
    readonly tensor: Tensor,
    /** [height, width] of the image as given, in pixels. */
    readonly originalSize: [number, number],
    /** [height, width] after resizing the long side to the encoder size (before padding). */
    readonly inputSize: [number, number],
  ) {}

  /** B, the number of images embedded together. */
  get batch(): number {
    return this.tensor.shape[0];
  }

  /** Frees the embedding's tensor. */
  dispose(): void {
    this.tensor.dispose();
  }

  /** Same as `dispose()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
