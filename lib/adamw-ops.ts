// The native AdamW on parameters and gradients the caller chooses: for tests of its update rule and its modes
// (host scalars or capturable, per-tensor, multi-tensor or fused kernels) and for benchmarks. Training itself
// runs the same optimizer inside SeqSam.trainStep.
import { nativeSync } from './errors.js';
import { addon, type NativeTensor } from './native.js';
import { type NamedTensors, Tensor, wrapNamed } from './tensor.js';

/** How a step's arithmetic is issued: 'auto' is per tensor on the CPU, multi-tensor (or fused when capturable) on a GPU. */
export type AdamWKernels = 'auto' | 'per-tensor' | 'multi-tensor' | 'fused';

export interface AdamWOptions {
  /** Learning rate (default 1e-4). */
  lr?: number;
  /** Decoupled weight decay (default 0.01). */
  weightDecay?: number;
  /** [β1, β2] (default [0.9, 0.999]). */
  betas?: [number, number];
  /** ε (default 1e-8). */
  eps?: number;
  /** Parameters left out of the decay, by name: 'none' (default) or 'bias-and-norm'. */
  decayExempt?: 'none' | 'bias-and-norm';
}

interface NativeAdamW {
  setGradients(grads: Record<string, NativeTensor>): void;
  step(apply?: boolean | NativeTensor): void;
  retractStep(): void;
  zeroGrad(): void;
  setLr(lr: number): void;
  setCapturable(on: boolean): void;
  stageScalars(): void;
  countReplayedStep(): void;
  setKernels(kernels: AdamWKernels): void;
  kernels(): AdamWKernels;
  steps(): number;
  deviceStep(): number | null;
  params(): Record<string, NativeTensor>;
  state(): Record<string, NativeTensor>;
  loadState(state: Record<string, NativeTensor>): void;
  dispose(): void;
}

type NativeAdamWConstructor = new (params: Record<string, NativeTensor>, options: AdamWOptions) => NativeAdamW;

function handles(tensors: NamedTensors): Record<string, NativeTensor> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.handle]));
}

/** The native AdamW over copies of `params`; errors carry the native codes (ERR_ARGUMENT, ERR_CHECKPOINT, ERR_NUMERIC, …). */
export class AdamWOptimizer implements Disposable {
  #native: NativeAdamW;

  constructor(params: NamedTensors, options: AdamWOptions = {}) {
    const AdamW = (addon().ops as Record<string, unknown>).AdamW as NativeAdamWConstructor;
    this.#native = nativeSync(() => new AdamW(handles(params), options));
  }

  /** The gradients of the next step(s), by parameter name; parameters not named get none (and are skipped). */
  setGradients(grads: NamedTensors): void {
    nativeSync(() => this.#native.setGradients(handles(grads)));
  }

  /** One step; `apply` false (a boolean, or a one-element bool tensor on the parameters' device) gates it off. */
  step(apply?: boolean | Tensor): void {
    nativeSync(() => this.#native.step(apply instanceof Tensor ? apply.handle : apply));
  }

  /** Forgets the last (gated-off) step's count. */
  retractStep(): void {
    nativeSync(() => this.#native.retractStep());
  }

  zeroGrad(): void {
    nativeSync(() => this.#native.zeroGrad());
  }

  /** The learning rate on the host; in capturable mode stageScalars() carries it to the device. */
  setLr(lr: number): void {
    nativeSync(() => this.#native.setLr(lr));
  }

  /** Capturable mode: rate and step count as device tensors, read by the kernels (see native/seqsam/adamw.h). */
  setCapturable(on: boolean): void {
    nativeSync(() => this.#native.setCapturable(on));
  }

  stageScalars(): void {
    nativeSync(() => this.#native.stageScalars());
  }

  /** Counts on the host a step a replayed graph ran on the device (capturable mode). */
  countReplayedStep(): void {
    nativeSync(() => this.#native.countReplayedStep());
  }

  setKernels(kernels: AdamWKernels): void {
    nativeSync(() => this.#native.setKernels(kernels));
  }

  /** What the next step will use ('auto' resolved). */
  get kernels(): AdamWKernels {
    return nativeSync(() => this.#native.kernels());
  }

  /** The host's step count. */
  get steps(): number {
    return nativeSync(() => this.#native.steps());
  }

  /** The device's step count in capturable mode (read back), else null. */
  get deviceStep(): number | null {
    return nativeSync(() => this.#native.deviceStep());
  }

  /** Copies of the parameters now. */
  params(): NamedTensors {
    return wrapNamed(nativeSync(() => this.#native.params()));
  }

  /** Copies of the checkpoint state: 'step' and '<name>.exp_avg' / '<name>.exp_avg_sq'. */
  state(): NamedTensors {
    return wrapNamed(nativeSync(() => this.#native.state()));
  }

  loadState(state: NamedTensors): void {
    nativeSync(() => this.#native.loadState(handles(state)));
  }

  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
