// SeqSAM: SAM with a recurrent mask decoder that generates M plausible masks one after another,
// trained against K annotators with Hungarian matching (and its baselines, SAM-MCL and single-mask SAM).
import { SeqsamError, nativeCall, nativeSync } from '../errors.js';
import type { NativeTensor } from '../native.js';
import { type NamedTensors, Tensor, disposeAll, wrapNamed } from '../tensor.js';
import type { ImageEmbedding } from './embedding.js';
import { ModelBase, createNativeModel, type GradientSyncReport, type ModelOptions, type NativeStepResult } from './native-model.js';
import { checkPromptObject, packPrompts, type PromptInput } from './prompts.js';
import { checkStepOptions, checkTrainingOptions, checkedBatchHandles } from './training-checks.js';
import { parseMetadataJson } from '../checkpoint/metadata-json.js';
import { checkKeys, checkNumMasks, checkObject } from '../validate.js';
import { prediction, type SamPrediction } from './sam.js';
import { resolveTrainingProtocol } from './training-protocol.js';
import { predictStream } from './stream/predict-stream.js';
import type { PredictStreamOptions, StreamOutput, StreamRequest } from './stream/types.js';

/**
 * The training setup of a {@link SeqSam}: objective, loss rules and AdamW. Unknown keys are refused
 * (`ERR_ARGUMENT`). Saved with the model's checkpoints and restored with them.
 */
export interface TrainingOptions {
  /**
   * `'seqsam'` (default), or a baseline: `'sam-mcl'` (SAM's 3 heads, winner takes all against one random
   * non-blank label per image), `'sam-det'` (one mask against one random non-blank label).
   */
  objective?: 'seqsam' | 'sam-mcl' | 'sam-det';
  /** M, the masks generated per prompt during training: an integer in 1..1024, raised to K when smaller (default 4). */
  numMasks?: number;
  /**
   * Which steps enter the loss when M > K (default `'strided'`: K even chunks, one random step each); see
   * `ops.Pooling` for each rule.
   */
  pooling?: 'strided' | 'reference-strided' | 'random' | 'first-k';
  /**
   * How picked steps are paired with labels: `'hungarian'` (default: the minimum-Dice assignment per image)
   * or `'fixed'` (pick r with label r).
   */
  matching?: 'hungarian' | 'fixed';
  /**
   * `'backprop'` (default: gradients flow through the fed-back masks) or `'stop-gradient'` (detaches the
   * fed-back logits; H keeps its gradient).
   */
  feedback?: 'backprop' | 'stop-gradient';
  /** `'sum'` over the batch (SeqSAM's default, as the reference) or `'mean'`; the baselines default to `'mean'`. */
  reduction?: 'sum' | 'mean';
  /** AdamW's learning rate (default 1e-4; finite, ≥ 0). `train.train`'s schedule overrides it per step. */
  lr?: number;
  /** AdamW's decoupled weight decay (default 0.01; finite, ≥ 0). */
  weightDecay?: number;
  /** AdamW's [β1, β2], each in [0, 1) (default [0.9, 0.999]). */
  betas?: [number, number];
  /** AdamW's ε (default 1e-8; > 0). */
  eps?: number;
  /** Clips the global gradient L2 norm to this value before each update (default 0: no clipping). */
  gradClip?: number;
  /**
   * Trains the image encoder too (default false: it stays frozen and `TrainBatch.embeddings` can be
   * cached). The baselines never train the cell.
   */
  trainEncoder?: boolean;
  /**
   * Seeds the per-step draws (pooling picks, the baselines' target labels) together with the step number,
   * so that a resumed run draws what an uninterrupted one would (default 0; a non-negative safe integer).
   */
  seed?: number;
  /**
   * Parameters AdamW leaves out of weight decay: 'none' (default: all decay) or 'bias-and-norm' (every
   * bias and the transformer's LayerNorm weights, as Hugging Face's Trainer sets up AdamW).
   */
  decayExempt?: 'none' | 'bias-and-norm';
  /**
   * The baselines' Dice loss ('sam-mcl', 'sam-det'): 'whole-mask' (default) or 'row-wise' (a Dice per
   * image row averaged over the rows, then the minimum over heads: the reference's baseline loss).
   */
  baselineDice?: 'whole-mask' | 'row-wise';
  /**
   * SeqSAM's blank labels: 'matched-label' (default: a pair counts when its matched label is non-blank) or
   * 'pick-index' (pair r is weighed by the mask of label r, the r-th pick's position, as the reference).
   */
  blankMasking?: 'matched-label' | 'pick-index';
  /**
   * 'reference' turns on the reference's training settings where not given: gradClip 1.0, decayExempt
   * 'bias-and-norm', baselineDice 'row-wise', blankMasking 'pick-index'. Recorded in saved checkpoints.
   */
  protocol?: 'reference';
  /**
   * Replay each training step from a CUDA graph on a CUDA device (default: the model's
   * {@link ModelOptions.cudaGraphs}, itself true). Same results as eager steps; see there for the cases that
   * always run eagerly.
   */
  cudaGraphs?: boolean;
}

/**
 * One batch of B images for {@link SeqSam.trainStep} / {@link SeqSam.evalStep}. Give `embeddings` or
 * `images`; every prompt is in the encoder's input frame (the image resized so its long side is
 * `config.image_size`, before padding), not in original-image pixels. `train.prepareSample` builds these
 * from dataset samples.
 */
export interface TrainBatch {
  /** (B, C, h, w) cached image embeddings (`ImageEmbedding.tensor`, or `train.EmbeddingCache`'s). */
  embeddings?: Tensor;
  /** (B, 3, S, S) preprocessed images (normalised, padded to S = `config.image_size`), when not giving embeddings. */
  images?: Tensor;
  /** (B, 4) one box x0 y0 x1 y1 per image, in input-frame pixels. */
  boxes?: Tensor;
  /** (B, N, 2) points x y per image, in input-frame pixels; needs `pointLabels`. */
  points?: Tensor;
  /** (B, N) point labels: 1 foreground, 0 background, -1 ignored. */
  pointLabels?: Tensor;
  /** (B, K, 4h, 4w) binary annotations (0 and 1 only), K raters per image, at the low-res mask size. */
  labels: Tensor;
  /** (B, K) 1 where a label counts, 0 where not; default: 1 for every non-blank label (any foreground). */
  labelMask?: Tensor;
  /** (B, P) int64 steps for the loss, overriding the pooling rule (SeqSAM only). */
  picks?: Tensor;
}

/** What a training or evaluation step returns. Dispose it (or use `using`) when done. */
export interface StepResult extends Disposable {
  /** The batch's loss. */
  loss: number;
  /** SeqSAM and every evalStep: (B, P) the steps that entered the loss (evalStep: all of them). */
  picks?: Tensor;
  /**
   * SeqSAM and every evalStep: (B, P) the label matched to each picked step (-1: none); a baseline's
   * trainStep: (B) the winning head.
   */
  assignment?: Tensor;
  /**
   * SeqSAM and every evalStep: (B, P, K) Dice costs of the picked steps against every label; a baseline's
   * trainStep: (B) the label each image was scored against.
   */
  cost?: Tensor;
  /** (B, M, 4h, 4w) the low-res mask logits of the step (M: the steps, or a baseline's heads), detached. */
  logits?: Tensor;
  /** A data-parallel trainStep (in a process group): how its gradient all-reduce went. */
  sync?: GradientSyncReport;
  /** Disposes every tensor of the result. */
  dispose(): void;
}

/** What {@link SeqSam.predict} returns: M masks per prompt, plus the rater-disagreement maps. */
export interface SeqSamPrediction extends SamPrediction {
  /** (B, H, W) per-pixel mean of the M mask probabilities (sigmoid of the logits). */
  mean: Tensor;
  /** (B, H, W) per-pixel (population) variance of the M mask probabilities: the rater-disagreement map. */
  variance: Tensor;
}

/** A prompt for {@link SeqSam.predict}, in original-image pixels, plus the number of masks wanted. */
export interface SeqSamPredictOptions extends PromptInput {
  /**
   * M, the masks generated one after another: an integer in 1..1024 (default 4). A model trained as a
   * baseline ignores it (SAM-MCL answers with 3 masks, sam-det with 1).
   */
  numMasks?: number;
}

/** {@link ModelOptions} plus a training setup. */
export interface SeqSamLoadOptions extends ModelOptions {
  /** Sets up training at load (see {@link SeqSam.configureTraining}); default: none, inference only until configured. */
  training?: TrainingOptions;
}

function stepResult(r: NativeStepResult): StepResult {
  const wrap = (t?: NativeTensor) => (t ? new Tensor(t) : undefined);
  const out = { loss: r.loss, picks: wrap(r.picks), assignment: wrap(r.assignment), cost: wrap(r.cost), logits: wrap(r.logits), ...(r.sync ? { sync: r.sync } : {}) };
  const dispose = () => {
    for (const t of [out.picks, out.assignment, out.cost, out.logits]) t?.dispose();
  };
  return { ...out, dispose, [Symbol.dispose]: dispose };
}

/**
 * SeqSAM: SAM with a recurrent mask decoder that generates M plausible masks one after another, trained
 * against K annotators with Hungarian matching (and its baselines, SAM-MCL and single-mask SAM).
 */
export class SeqSam extends ModelBase {
  #training: TrainingOptions | null = null;

  /**
   * Builds a model. A checkpoint may be a SeqSAM checkpoint (SAM + cell, maybe optimizer state), a
   * safetensors file with official SAM names plus cell.*, or SAM/MedSAM weights alone (the cell starts
   * fresh). A SeqSAM checkpoint's recorded training setup is adopted unless `options.training` is given.
   */
  static async load(options: SeqSamLoadOptions = {}): Promise<SeqSam> {
    const model = new SeqSam(createNativeModel(options));
    try {
      if (options.training) model.configureTraining(options.training);
      if (options.checkpoint) await model.restore(options.checkpoint, { strict: options.strict ?? true });
    } catch (error) {
      model.dispose();
      throw error;
    }
    return model;
  }

  /**
   * Loads a checkpoint into this model in place: weights, and the optimizer state when training is set up
   * (from the checkpoint's own training options when none are). `strict` (default true) as in
   * {@link ModelOptions.strict}. A refused checkpoint leaves the model as it was.
   */
  async restore(path: string, options: { strict?: boolean } = {}): Promise<void> {
    const strict = options.strict ?? true;
    const names = await this.checkpointNames(path);
    const scope = names.some((n) => /^(sam\.)?cell\./.test(n)) ? 'all' : 'sam';
    // Weights and optimizer state go in together, after both are checked: a refused checkpoint leaves the
    // model as it was (its training setup too, when the checkpoint's own was about to be adopted).
    const trainingBefore = this.#training;
    try {
      const { extra } = await this.loadWeights(path, scope, strict, (metadata, extra) => {
        const training = parseMetadataJson<TrainingOptions>(path, metadata, 'training');
        if (training && !this.#training) this.configureTraining(training);
        const optimizer: Record<string, NativeTensor> = {};
        for (const [name, t] of Object.entries(extra)) optimizer[name.slice('optimizer.'.length)] = t.handle;
        return Object.keys(optimizer).length && this.#training ? optimizer : undefined;
      });
      disposeAll(extra);
    } catch (error) {
      this.#training = trainingBefore;
      throw error;
    }
  }

  private async checkpointNames(path: string): Promise<string[]> {
    const { detectFormat, readSafetensorsHeader } = await import('../checkpoint/index.js');
    if ((await detectFormat(path)) === 'safetensors') return (await readSafetensorsHeader(path)).entries.map((e) => e.name);
    return []; // torch.save files are SAM/MedSAM weights
  }

  /** A copy of the training setup as given (null until training is configured). */
  get training(): TrainingOptions | null {
    return this.#training ? { ...this.#training } : null;
  }

  /**
   * Sets up the objective and a fresh AdamW (lr 1e-4, weight decay 0.01 unless told otherwise); a previous
   * optimizer state is dropped. Throws `ERR_ARGUMENT` for an unknown key or a value out of range.
   */
  configureTraining(options: TrainingOptions = {}): void {
    checkTrainingOptions(options);
    const resolved = resolveTrainingProtocol(options);
    nativeSync(() => this.handle.configureTraining(resolved));
    this.#training = { ...options };
  }

  /** Masks the model produces per prompt: `numMasks` (default 4) for SeqSAM, 3 for SAM-MCL, 1 for single-mask SAM. */
  masksPerPrompt(numMasks = 4): number {
    const objective = this.#training?.objective ?? 'seqsam';
    return objective === 'sam-mcl' ? 3 : objective === 'sam-det' ? 1 : numMasks;
  }

  /**
   * M masks for each prompt: masks (B, M, H, W) at the original size, plus mean and variance maps. A model
   * trained as a baseline answers as it was trained: SAM-MCL with its 3 heads, sam-det with one mask.
   * `maskInput` is refused (the model feeds back its own masks). Run far past the steps it was trained for,
   * the recurrence may diverge: then `ERR_ARGUMENT` names the step where it does.
   */
  async predict(embedding: ImageEmbedding, prompt: SeqSamPredictOptions): Promise<SeqSamPrediction> {
    checkPromptObject('SeqSam.predict', prompt);
    const numMasks = checkNumMasks('numMasks', prompt.numMasks ?? 4);
    const objective = this.#training?.objective ?? 'seqsam';
    if (prompt.maskInput) throw new SeqsamError('ERR_ARGUMENT', 'SeqSam.predict: maskInput is not a SeqSAM prompt (the model feeds back its own masks)');
    const [height, width] = embedding.originalSize;
    const packed = packPrompts(prompt, width, height, this.device);
    try {
      const handle = this.handle;
      const out = await nativeCall(() =>
        handle.predict(embedding.tensor.handle, packed.tensors, {
          originalSize: embedding.originalSize,
          inputSize: embedding.inputSize,
          ...(objective === 'seqsam' ? { numMasks } : { numMasks: 0, multimask: objective === 'sam-mcl', uncertainty: true }),
        }),
      );
      const base = prediction(new Tensor(out.masks), new Tensor(out.lowResLogits), new Tensor(out.iou));
      const extra = out as unknown as { mean: NativeTensor; variance: NativeTensor };
      const mean = new Tensor(extra.mean);
      const variance = new Tensor(extra.variance);
      const dispose = () => {
        base.dispose();
        mean.dispose();
        variance.dispose();
      };
      return { ...base, mean, variance, dispose, [Symbol.dispose]: dispose };
    } finally {
      packed.dispose();
    }
  }

  /**
   * Predictions for a stream of `{ image, box | points, numMasks }` requests, in input order: batched
   * (encoder and decoder), with embeddings reused for repeated images, bounded in flight, cancelled by
   * `signal`. See lib/model/stream/predict-stream.ts; each result is the caller's to dispose.
   */
  predictStream(source: AsyncIterable<StreamRequest> | Iterable<StreamRequest>, options: PredictStreamOptions = {}): AsyncGenerator<StreamOutput, void, undefined> {
    return predictStream(this, source, options);
  }

  private requireTraining(): void {
    if (!this.#training) throw new SeqsamError('ERR_ARGUMENT', 'call configureTraining() (or load with { training }) before training');
  }

  /**
   * Forward, loss, backward and one AdamW step, natively. `lr` (finite, ≥ 0) overrides the learning rate
   * from now on; `update: false` stops after the backward pass. Labels and label masks must hold only 0
   * and 1. A step whose loss or gradient norm is NaN or infinite throws ERR_NUMERIC and leaves the weights
   * and the optimizer state as they were.
   */
  async trainStep(batch: TrainBatch, options: { lr?: number; update?: boolean } = {}): Promise<StepResult> {
    this.requireTraining();
    checkStepOptions(options);
    const handles = await checkedBatchHandles('trainStep', batch);
    const handle = this.handle;
    return stepResult(await nativeCall(() => handle.trainStep(handles, options)));
  }

  /**
   * All `numMasks` hypotheses (default: the training setup's, else 4) against all K labels (no pooling, no
   * label mask), without gradients. Needs the training set up, as `trainStep`.
   */
  async evalStep(batch: TrainBatch, options: { numMasks?: number } = {}): Promise<StepResult> {
    this.requireTraining();
    checkObject('evalStep options', options);
    checkKeys('evalStep options', options, ['numMasks']);
    const numMasks = checkNumMasks('evalStep: options.numMasks', options.numMasks ?? this.#training?.numMasks ?? 4);
    const handles = await checkedBatchHandles('evalStep', batch);
    const handle = this.handle;
    return stepResult(await nativeCall(() => handle.evalStep(handles, numMasks)));
  }

  /** Gradients left by the last trainStep, by parameter name (copies; dispose them). */
  gradients(): NamedTensors {
    return wrapNamed(nativeSync(() => this.handle.gradients()));
  }

  /**
   * Weights (official SAM names + cell.*), optimizer state and the training setup, in one safetensors
   * file written atomically. `metadata` entries (strings) are added to the file's metadata.
   */
  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    const optimizer: NamedTensors = {};
    if (this.#training) {
      for (const [name, t] of Object.entries(wrapNamed(nativeSync(() => this.handle.optimizerState())))) optimizer[`optimizer.${name}`] = t;
    }
    try {
      await this.saveTensors(path, 'all', optimizer, {
        model: 'seqsam',
        ...(this.#training ? { training: JSON.stringify(this.#training) } : {}),
        ...(this.#training?.protocol ? { protocol: this.#training.protocol } : {}),
        ...metadata,
      });
    } finally {
      disposeAll(optimizer);
    }
  }
}
