// The shared body of Sam and SeqSam: one native model (SAM + recurrent cell) and its weights.
import { SeqsamError, nativeCall, nativeSync } from '../errors.js';
import { addon, type NativeTensor } from '../native.js';
import { readCheckpoint, mapCheckpointNames, writeSafetensors } from '../checkpoint/index.js';
import { stack } from '../ops.js';
import { type NamedTensors, Tensor, disposeAll, wrapNamed } from '../tensor.js';
import { packageVersion } from '../runtime.js';
import type { SamConfig, SamPreset } from './config.js';
import { architectureMismatch } from './architecture-check.js';
import { ImageEmbedding } from './embedding.js';
import { decodeImage, type ImageInput, type ImageOptions } from './image-input.js';

/** Which weights: `'sam'` (the SAM model alone) or `'all'` (SAM plus SeqSAM's recurrent cell, `cell.*`). */
export type WeightScope = 'sam' | 'all';

/**
 * Numeric precision of the encoder and decoder: float32; bfloat16 (`'bf16'`: autocast where a gradient is
 * needed — matmuls and convolutions in bf16, norms and reductions in float32, weights and outputs float32 —
 * and a frozen encoder on weights held in bf16); or float32 with TF32 matmuls and convolutions on CUDA
 * (`'tf32'`: 10-bit mantissa products, float32 accumulation; the same as `'fp32'` on the CPU). LibTorch's TF32
 * switch is process-wide: while a `'tf32'` model runs, other float32 GPU work in the process may use TF32 too.
 */
export type Precision = 'fp32' | 'bf16' | 'tf32';

export interface NativeModelHandle {
  config(): string;
  device(): string;
  precision(): Precision;
  parameterShapes(scope: WeightScope): Record<string, number[]>;
  load(tensors: Record<string, NativeTensor>, strict: boolean, scope: WeightScope, optimizerState?: Record<string, NativeTensor>): Promise<void>;
  stateDict(scope: WeightScope): Record<string, NativeTensor>;
  embed(image: NativeTensor): Promise<{ embeddings: NativeTensor; inputSize: [number, number] }>;
  predict(
    embeddings: NativeTensor,
    prompts: Record<string, Tensor | undefined>,
    options: { originalSize: [number, number]; inputSize: [number, number]; multimask?: boolean; numMasks?: number },
  ): Promise<{ masks: NativeTensor; lowResLogits: NativeTensor; iou: NativeTensor }>;
  configureTraining(options: object): void;
  trainStep(batch: object, options?: { lr?: number; update?: boolean }): Promise<NativeStepResult>;
  evalStep(batch: object, numMasks: number): Promise<NativeStepResult>;
  gradients(): Record<string, NativeTensor>;
  optimizerState(): Record<string, NativeTensor>;
  loadOptimizerState(tensors: Record<string, NativeTensor>): Promise<void>;
  cudaGraphStats(): { inference: CudaGraphStats; training: CudaGraphStats | null };
  dispose(): void;
}

export interface NativeStepResult {
  loss: number;
  picks?: NativeTensor;
  assignment?: NativeTensor;
  cost?: NativeTensor;
  logits?: NativeTensor;
  sync?: GradientSyncReport;
}

/** How a data-parallel training step's gradient all-reduce went. */
export interface GradientSyncReport {
  /** Whether buckets could start during backward (false under SEQSAM_DDP_OVERLAP=0). */
  overlap: boolean;
  /** How many buckets the gradients were reduced in. */
  buckets: number;
  /** How many of them started their all-reduce while backward still had gradients to compute. */
  launchedDuringBackward: number;
  /** Milliseconds from backward's return until the summed gradients were in place (the exposed wait). */
  exposedMs: number;
}

/** What a model's CUDA graphs did so far (see {@link ModelOptions.cudaGraphs}). */
export interface CudaGraphStats {
  /** Graphs recorded (one per input layout). */
  captures: number;
  /** Calls answered by replaying one. */
  replays: number;
  /** Layouts whose recording failed: those run eagerly. */
  failures: number;
  /** Why the last recording failed ('' when none did). */
  lastFailure: string;
}

/** How to build a model (`Sam.load`, `SeqSam.load`). */
export interface ModelOptions {
  /**
   * An official SAM architecture: `'vit_b'`, `'vit_l'` or `'vit_h'`. Give either `preset` or `config`, not
   * both (`ERR_ARGUMENT`); with neither the model is ViT-B.
   */
  preset?: SamPreset;
  /** The architecture field by field (snake_case, as SAM's JSON); fields left out take ViT-B's values. */
  config?: SamConfig;
  /**
   * A .pth or .safetensors file: official SAM/MedSAM names, Hugging Face names, optional `sam.`, `model.` or
   * `module.` prefix. Its shapes must fit the architecture (`ERR_CHECKPOINT` naming what differs). Default:
   * none, the model keeps its random initialisation.
   */
  checkpoint?: string;
  /** Where the weights live and the model runs: `'cpu'` (default), `'cuda'` or `'cuda:N'`. */
  device?: string;
  /** `'fp32'` (default), `'bf16'` or `'tf32'` (see {@link Precision}) for the encoder and decoder, in inference and training. */
  precision?: Precision;
  /**
   * On a CUDA device, replay SeqSAM's rollout in `predict` and the whole training step (forward to AdamW,
   * from cached embeddings) from CUDA graphs recorded once per input layout (default true; thousands of
   * small kernel launches become one). Same results as without; `TrainingOptions.cudaGraphs` overrides it
   * for training. No effect on the CPU, in a build without graphs (`info().cudaGraphs`), or when the
   * environment has `SEQSAM_CUDA_GRAPHS=0`. Steps that cannot be recorded (a trained encoder, a process
   * group, `update: false`) run eagerly.
   */
  cudaGraphs?: boolean;
  /**
   * Seeds the random initialisation of whatever the checkpoint does not set (default 0; a non-negative
   * integer). It seeds LibTorch's global generator, as `manualSeed` does.
   */
  seed?: number;
  /**
   * Reject checkpoints with missing or unexpected tensors (default true). `strict: false` tolerates those
   * (the model keeps its own values for what is missing) but, as PyTorch's load_state_dict(strict=False),
   * still refuses a tensor whose shape differs from the model's, or a name given twice: such a checkpoint
   * was made for another architecture, and loading part of it would be silently wrong.
   */
  strict?: boolean;
}

export function createNativeModel(options: ModelOptions): NativeModelHandle {
  if (options.preset && options.config) throw new SeqsamError('ERR_ARGUMENT', 'give either preset or config, not both');
  const Native = addon().NativeModel as new (o: object) => NativeModelHandle;
  return nativeSync(
    () =>
      new Native({
        preset: options.preset,
        config: options.preset ? undefined : JSON.stringify(options.config ?? {}),
        device: options.device ?? 'cpu',
        precision: options.precision ?? 'fp32',
        cudaGraphs: options.cudaGraphs ?? true,
        seed: options.seed ?? 0,
      }),
  );
}

/** What `Sam` and `SeqSam` share: one native model and its weights. */
export class ModelBase implements Disposable {
  protected native: NativeModelHandle | null;

  protected constructor(native: NativeModelHandle) {
    this.native = native;
  }

  protected get handle(): NativeModelHandle {
    if (!this.native) throw new SeqsamError('ERR_DISPOSED', 'the model was disposed');
    return this.native;
  }

  /** The model's architecture, every field filled in. */
  get config(): Required<SamConfig> {
    return JSON.parse(nativeSync(() => this.handle.config())) as Required<SamConfig>;
  }

  /** The device the model runs on: `'cpu'`, `'cuda:0'`, ... */
  get device(): string {
    return nativeSync(() => this.handle.device());
  }

  /** `'fp32'`, `'bf16'` or `'tf32'`, as set by `ModelOptions.precision`. */
  get precision(): Precision {
    return nativeSync(() => this.handle.precision());
  }

  /**
   * What the model's CUDA graphs did so far: `inference` (SeqSAM's rollout in predict) and `training` (null
   * until training is set up). All zero on the CPU or with graphs off; see {@link ModelOptions.cudaGraphs}.
   */
  cudaGraphStats(): { inference: CudaGraphStats; training: CudaGraphStats | null } {
    return nativeSync(() => this.handle.cudaGraphStats());
  }

  // Loads weights from a checkpoint file; returns its metadata. Tensors outside `scope` that the file
  // holds (e.g. a SeqSAM cell when loading into plain SAM) are ignored, never half-loaded. `optimizerState`
  // picks the optimizer state (if any) to load with the weights: both are checked before either is applied.
  protected async loadWeights(
    path: string,
    scope: WeightScope,
    strict: boolean,
    optimizerState?: (metadata: Record<string, string>, extra: NamedTensors) => Record<string, NativeTensor> | undefined,
  ): Promise<{ metadata: Record<string, string>; extra: NamedTensors }> {
    const { tensors, metadata } = await readCheckpoint(path);
    const extra: NamedTensors = {};
    try {
      const official = Object.keys(this.handle.parameterShapes(scope));
      const modelTensors = Object.keys(tensors).filter((name) => !name.startsWith('optimizer.'));
      for (const name of Object.keys(tensors)) if (name.startsWith('optimizer.')) extra[name] = tensors[name];
      const mapping = mapCheckpointNames(modelTensors, official);
      const shapes = new Map([...mapping.renamed].map(([from, to]) => [to, tensors[from]!.shape] as const));
      const mismatch = architectureMismatch(path, shapes, this.config, official.filter((n) => !shapes.has(n)));
      if (mismatch) throw mismatch;
      const named: Record<string, NativeTensor> = {};
      for (const [from, to] of mapping.renamed) named[to] = tensors[from].handle;
      // Unknown names go in as they are, so that strict loading lists them.
      const ignored = scope === 'sam' ? (n: string) => /^(sam\.)?cell\./.test(n) : () => false;
      for (const name of mapping.unmatched) if (!ignored(name)) named[name] = tensors[name].handle;
      const optimizer = optimizerState?.(metadata, extra);
      await nativeCall(() => this.handle.load(named, strict, scope, optimizer)).catch((error: Error & { code?: string }) => {
        throw new SeqsamError('ERR_CHECKPOINT', `${path}: ${error.message}`, { cause: error });
      });
    } catch (error) {
      disposeAll(extra);
      throw error;
    } finally {
      for (const [name, t] of Object.entries(tensors)) if (!(name in extra)) t.dispose();
    }
    return { metadata, extra };
  }

  /**
   * Live views of the weights under their official names (`scope` `'all'`, the default, includes the cell's
   * `cell.*`; `'sam'` leaves it out). Dispose the handles when done; the weights stay with the model.
   */
  stateDict(scope: WeightScope = 'all'): NamedTensors {
    return wrapNamed(nativeSync(() => this.handle.stateDict(scope)));
  }

  protected async saveTensors(path: string, scope: WeightScope, extra: NamedTensors, metadata: Record<string, string>): Promise<void> {
    if (typeof path !== 'string' || path === '') throw new SeqsamError('ERR_ARGUMENT', `save: path must be a non-empty string (got ${typeof path === 'string' ? '""' : String(path)})`);
    const weights = this.stateDict(scope);
    try {
      await writeSafetensors(path, { ...weights, ...extra }, { format: 'seqsam', version: packageVersion(), config: JSON.stringify(this.config), ...metadata });
    } finally {
      disposeAll(weights);
    }
  }

  /**
   * Runs the frozen image encoder once: the image is resized (long side to `config.image_size`), normalised
   * and padded as SAM does. Several images of one size embed as a batch (B, C, h, w); predict then takes
   * one prompt per image. Images of different sizes in one call are an `ERR_SHAPE` error.
   * @param image A file path, an encoded image (PNG, JPEG, ...) or raw pixels, or a non-empty list of them.
   * @param options How non-8-bit raw pixels are mapped to 0..255 (see `ImageOptions`).
   */
  async embed(image: ImageInput | readonly ImageInput[], options: ImageOptions = {}): Promise<ImageEmbedding> {
    const images = Array.isArray(image) ? (image as readonly ImageInput[]) : [image as ImageInput];
    if (images.length === 0) throw new SeqsamError('ERR_ARGUMENT', 'embed: the image list is empty');
    const decoded = [];
    try {
      for (const input of images) decoded.push(await decodeImage(input, options));
      const [first] = decoded;
      decoded.forEach((d, i) => {
        if (d.width !== first.width || d.height !== first.height) {
          throw new SeqsamError('ERR_SHAPE', `embed: images[${i}] is ${d.width}×${d.height}, images[0] is ${first.width}×${first.height}; a batch needs one size`);
        }
      });
      const pixels = decoded.length === 1 ? first.tensor : stack(decoded.map((d) => d.tensor));
      const handle = this.handle;
      try {
        const { embeddings, inputSize } = await nativeCall(() => handle.embed(pixels.handle));
        return new ImageEmbedding(new Tensor(embeddings), [first.height, first.width], inputSize);
      } finally {
        if (pixels !== first.tensor) pixels.dispose();
      }
    } finally {
      for (const d of decoded) d.tensor.dispose();
    }
  }

  /**
   * The encoder on pixels already in a tensor, (H, W, 3) or (B, H, W, 3) RGB, uint8 or float on the 0..255
   * scale, on any device: no decoding and no host copy (frames already on the GPU, benchmarks).
   */
  async embedPixels(pixels: Tensor): Promise<ImageEmbedding> {
    const shape = pixels.shape;
    if ((shape.length !== 3 && shape.length !== 4) || shape[shape.length - 1] !== 3) {
      throw new SeqsamError('ERR_SHAPE', `embedPixels: pixels must be (H, W, 3) or (B, H, W, 3), got [${shape.join(', ')}]`);
    }
    const [height, width] = shape.slice(-3, -1);
    const handle = this.handle;
    const { embeddings, inputSize } = await nativeCall(() => handle.embed(pixels.handle));
    return new ImageEmbedding(new Tensor(embeddings), [height, width], inputSize);
  }

  /** Frees the model's native memory now; using the model afterwards throws `ERR_DISPOSED`. */
  dispose(): void {
    this.native?.dispose();
    this.native = null;
  }

  /** Same as `dispose()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
