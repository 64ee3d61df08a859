// SeqSAM: SAM with a recurrent mask decoder that generates M plausible masks one after another,
// trained against K annotators with Hungarian matching (and its baselines, SAM-MCL and single-mask SAM).
import { SeqsamError, nativeCall, nativeSync } from '../errors.js';
import type { NativeTensor } from '../native.js';
import { type NamedTensors, Tensor, disposeAll, wrapNamed } from '../tensor.js';
import type { ImageEmbedding } from './embedding.js';
import { ModelBase, createNativeModel, type ModelOptions, type NativeStepResult } from './native-model.js';
import { checkPromptObject, packPrompts, type PromptInput } from './prompts.js';
import { checkStepOptions, checkTrainingOptions, checkedBatchHandles } from './training-checks.js';
import { parseMetadataJson } from '../checkpoint/metadata-json.js';
import { checkKeys, checkNumMasks, checkObject } from '../validate.js';
import { prediction, type SamPrediction } from './sam.js';
import { resolveTrainingProtocol } from './training-protocol.js';
import { predictStream } from '../stream/predict-stream.js';
import type { PredictStreamOptions, StreamOutput, StreamRequest } from '../stream/types.js';

export interface TrainingOptions {
  // 'seqsam' (default), or a baseline: 'sam-mcl' (3 heads, winner takes all), 'sam-det' (one mask)
  objective?: 'seqsam' | 'sam-mcl' | 'sam-det';
  // M during training; raised to K when smaller (default 4)
  numMasks?: number;
  // Which steps enter the loss when M > K (default 'strided': K even chunks, one random step each)
  pooling?: 'strided' | 'reference-strided' | 'random' | 'first-k';
  matching?: 'hungarian' | 'fixed';
  // 'stop-gradient' detaches the fed-back logits (H keeps its gradient)
  feedback?: 'backprop' | 'stop-gradient';
  // 'sum' over the batch (SeqSAM, as the reference) or 'mean'; the baselines default to 'mean'
  reduction?: 'sum' | 'mean';
  lr?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  gradClip?: number;
  trainEncoder?: boolean;
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
}

export interface TrainBatch {
  // (B, C, h, w) cached image embeddings, or (B, 3, S, S) preprocessed images
  embeddings?: Tensor;
  images?: Tensor;
  // prompts in the encoder's input frame: boxes (B, 4), points (B, N, 2) + pointLabels (B, N)
  boxes?: Tensor;
  points?: Tensor;
  pointLabels?: Tensor;
  // (B, K, 4h, 4w) binary annotations; labelMask (B, K) defaults to "non-blank"
  labels: Tensor;
  labelMask?: Tensor;
  // (B, P) steps for the loss, overriding the pooling rule
  picks?: Tensor;
}

export interface StepResult extends Disposable {
  loss: number;
  picks?: Tensor;
  assignment?: Tensor;
  cost?: Tensor;
  logits?: Tensor;
  dispose(): void;
}

export interface SeqSamPrediction extends SamPrediction {
  // per-pixel mean and variance of the M mask probabilities (B, H, W): the rater-disagreement map
  mean: Tensor;
  variance: Tensor;
}

export interface SeqSamPredictOptions extends PromptInput {
  numMasks?: number;
}

export interface SeqSamLoadOptions extends ModelOptions {
  training?: TrainingOptions;
}

function stepResult(r: NativeStepResult): StepResult {
  const wrap = (t?: NativeTensor) => (t ? new Tensor(t) : undefined);
  const out = { loss: r.loss, picks: wrap(r.picks), assignment: wrap(r.assignment), cost: wrap(r.cost), logits: wrap(r.logits) };
  const dispose = () => {
    for (const t of [out.picks, out.assignment, out.cost, out.logits]) t?.dispose();
  };
  return { ...out, dispose, [Symbol.dispose]: dispose };
}

export class SeqSam extends ModelBase {
  #training: TrainingOptions | null = null;

  // A checkpoint may be a SeqSAM checkpoint (SAM + cell, maybe optimizer state), a safetensors file with
  // official SAM names plus cell.*, or SAM/MedSAM weights alone (the cell starts fresh).
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

  // Loads a checkpoint into this model in place: weights, and the optimizer state when training is set up
  // (from the checkpoint's own training options when none are).
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

  get training(): TrainingOptions | null {
    return this.#training ? { ...this.#training } : null;
  }

  // Sets up the objective and a fresh AdamW (lr 1e-4, weight decay 0.01 unless told otherwise).
  configureTraining(options: TrainingOptions = {}): void {
    checkTrainingOptions(options);
    const resolved = resolveTrainingProtocol(options);
    nativeSync(() => this.handle.configureTraining(resolved));
    this.#training = { ...options };
  }

  // Masks the model produces per prompt: numMasks for SeqSAM, 3 for SAM-MCL, 1 for single-mask SAM.
  masksPerPrompt(numMasks = 4): number {
    const objective = this.#training?.objective ?? 'seqsam';
    return objective === 'sam-mcl' ? 3 : objective === 'sam-det' ? 1 : numMasks;
  }

  // M masks for each prompt: masks (B, M, H, W) at the original size, plus mean and variance maps. A model
  // trained as a baseline answers as it was trained: SAM-MCL with its 3 heads, sam-det with one mask.
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
   * `signal`. See lib/stream/predict-stream.ts; each result is the caller's to dispose.
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

  // All numMasks hypotheses against all K labels (no pooling, no label mask), without gradients.
  async evalStep(batch: TrainBatch, options: { numMasks?: number } = {}): Promise<StepResult> {
    this.requireTraining();
    checkObject('evalStep options', options);
    checkKeys('evalStep options', options, ['numMasks']);
    const numMasks = checkNumMasks('evalStep: options.numMasks', options.numMasks ?? this.#training?.numMasks ?? 4);
    const handles = await checkedBatchHandles('evalStep', batch);
    const handle = this.handle;
    return stepResult(await nativeCall(() => handle.evalStep(handles, numMasks)));
  }

  // Gradients left by the last trainStep, by parameter name (copies).
  gradients(): NamedTensors {
    return wrapNamed(nativeSync(() => this.handle.gradients()));
  }

  // Weights (official SAM names + cell.*), optimizer state and the training setup, in one safetensors
  // file written atomically.
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
