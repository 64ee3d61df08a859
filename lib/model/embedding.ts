// An image embedding: the frozen encoder's output for one image (or a batch of same-size images), with
// the sizes needed to map masks back onto the original pixels.
import { Tensor } from '../tensor.js';

export class ImageEmbedding implements Disposable {
  constructor(
    // (B, C, h, w) on the model's device
    readonly tensor: Tensor,
    // [height, width] of the image as given
    readonly originalSize: [number, number],
    // [height, width] after resizing the long side to the encoder size (before padding)
    readonly inputSize: [number, number],
  ) {}

  get batch(): number {
    return this.tensor.shape[0];
  }

  dispose(): void {
    this.tensor.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
