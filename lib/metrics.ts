// Multi-annotator segmentation metrics: M predicted masks per image against K annotators' masks (after
// BenjaminTowle/SeqSAM src/metrics.py). The per-image values are computed natively (any device); this
// module adds the means, standard deviations and a text summary.
import { SeqsamError, nativeCall } from './errors.js';
import { addon, type NativeTensor } from './native.js';
import { Tensor, type AnyTypedArray, type DType } from './tensor.js';

/** A (N, M, H, W) / (N, K, H, W) tensor, or raw data that is copied into one for the call. */
export type MaskInput = Tensor | { data: AnyTypedArray; shape: readonly number[]; dtype?: DType };

/** Options of {@link compute}. */
export interface MetricOptions {
  /**
   * Floating-point predictions are foreground where value > threshold (default 0: logits). Bool and
   * integer predictions, and all labels, count nonzero as foreground.
   */
  threshold?: number;
}

/**
 * One value (or list of values) per metric. Per image: M predicted masks against K annotators' masks
 * (after BenjaminTowle/SeqSAM src/metrics.py).
 */
export interface MetricValues<T> {
  /** Majority vote of the predictions against each label, Dice averaged over labels (two empty masks: 0). */
  dice: T;
  /** For each prediction its best Dice against any label, averaged over predictions. */
  diceMax: T;
  /** As dice over the non-blank labels only; NaN for an image whose labels are all blank. */
  diceNoBlank: T;
  /** Generalised energy distance with d = 1 − IoU (lower is better). */
  ged: T;
  /** E[d(s, s′)] over ordered prediction pairs. */
  sampleDiversity: T;
  /** E[d(y, y′)] over ordered label pairs. */
  labelDiversity: T;
  /** Combined sensitivity × Dmax × diversity agreement: 3abc / (a + b + c), as the reference computes it. */
  collectiveInsight: T;
  /** Predictions and labels replicated to lcm(M, K) (at most 1024), optimal one-to-one matching, mean matched IoU. */
  hmIou: T;
}

/** A metric's name: 'dice', 'diceMax', 'ged', ... */
export type MetricName = keyof MetricValues<unknown>;
/** Each metric's value for every image, in input order. */
export type PerImageMetrics = MetricValues<number[]>;
/** One number per metric (a mean, a standard deviation or a count). */
export type MetricSummary = MetricValues<number>;

/** What {@link compute} returns. */
export interface MetricsResult {
  /** Each metric's value for every image (NaN where it is undefined). */
  perImage: PerImageMetrics;
  /** Over the images whose value is not NaN (NaN when there is none). */
  mean: MetricSummary;
  /** Population standard deviation over the same images. */
  std: MetricSummary;
  /**
   * How many images each metric left out because its value is undefined there (NaN: e.g. diceNoBlank of
   * an image whose labels are all blank). Two models' means can rest on different images: compare these.
   */
  dropped: MetricSummary;
}

/** Our names and the native (reference) names, in display order. */
export const metricNames: ReadonlyArray<readonly [MetricName, string]> = [
  ['dice', 'dice'],
  ['diceMax', 'dice_max'],
  ['diceNoBlank', 'dice_nod'],
  ['ged', 'ged'],
  ['sampleDiversity', 'sample_diversity'],
  ['labelDiversity', 'label_diversity'],
  ['collectiveInsight', 'collective_insight'],
  ['hmIou', 'hm_iou'],
];

type NativeComputeMetrics = (predictions: NativeTensor, labels: NativeTensor, threshold: number) => Promise<Record<string, NativeTensor>>;

function nativeCompute(): NativeComputeMetrics {
  const fn = addon().computeMetrics;
  if (typeof fn !== 'function') throw new SeqsamError('ERR_NATIVE', 'metrics: the native addon has no computeMetrics (rebuild it)');
  return fn as NativeComputeMetrics;
}

// The tensor for an input, and whether it was made here (and must be disposed here).
function asTensor(input: MaskInput, what: string): { tensor: Tensor; owned: boolean } {
  if (input instanceof Tensor) return { tensor: input, owned: false };
  if (input && typeof input === 'object' && ArrayBuffer.isView((input as { data?: unknown }).data) && Array.isArray(input.shape)) {
    return { tensor: Tensor.from(input.data, input.shape, input.dtype ? { dtype: input.dtype } : {}), owned: true };
  }
  throw new SeqsamError('ERR_ARGUMENT', `metrics.compute: ${what} must be a Tensor or { data: TypedArray, shape: number[] }`);
}

/** Per-image metrics of predictions (N, M, H, W) against labels (N, K, H, W), with their means and stds. */
export async function compute(predictions: MaskInput, labels: MaskInput, options: MetricOptions = {}): Promise<MetricsResult> {
  const threshold = options.threshold ?? 0;
  if (typeof threshold !== 'number' || Number.isNaN(threshold)) {
    throw new SeqsamError('ERR_ARGUMENT', 'metrics.compute: options.threshold must be a number');
  }
  const owned: Tensor[] = [];
  try {
    const p = asTensor(predictions, 'predictions');
    if (p.owned) owned.push(p.tensor);
    const l = asTensor(labels, 'labels');
    if (l.owned) owned.push(l.tensor);
    const native = await nativeCall(() => nativeCompute()(p.tensor.handle, l.tensor.handle, threshold));
    const tensors = new Map(Object.entries(native).map(([name, handle]) => [name, new Tensor(handle)]));
    try {
      const perImage = {} as PerImageMetrics;
      for (const [key, nativeName] of metricNames) {
        const tensor = tensors.get(nativeName);
        if (!tensor) throw new SeqsamError('ERR_NATIVE', `metrics: the native result lacks '${nativeName}'`);
        perImage[key] = Array.from((await tensor.toTypedArray()) as Float64Array);
      }
      return { perImage, ...summarize(perImage) };
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  } finally {
    for (const t of owned) t.dispose();
  }
}

function meanStd(values: readonly number[]): { mean: number; std: number } {
  const finite = values.filter((v) => !Number.isNaN(v));
  if (finite.length === 0) return { mean: NaN, std: NaN };
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const variance = finite.reduce((a, v) => a + (v - mean) ** 2, 0) / finite.length;
  return { mean, std: Math.sqrt(variance) };
}

/** Mean and population standard deviation of each metric, skipping NaN values, and how many were skipped. */
export function summarize(perImage: PerImageMetrics): { mean: MetricSummary; std: MetricSummary; dropped: MetricSummary } {
  const mean = {} as MetricSummary;
  const std = {} as MetricSummary;
  const dropped = {} as MetricSummary;
  for (const [key] of metricNames) {
    const values = perImage[key] ?? [];
    const s = meanStd(values);
    mean[key] = s.mean;
    std[key] = s.std;
    dropped[key] = values.filter((v) => Number.isNaN(v)).length;
  }
  return { mean, std, dropped };
}

// What the collective-insight line says it is: the reference's formula, which is not a harmonic mean.
const collectiveInsightNote = '3abc/(a+b+c): a sensitivity, b Dmax, c diversity agreement';

/**
 * A short text table, one line per metric: "name  mean ± std", with how many images a metric left out
 * (when result.dropped is given) and what collective insight computes.
 */
export function format(result: { mean: MetricSummary; std: MetricSummary; dropped?: MetricSummary }, digits = 4): string {
  if (!Number.isInteger(digits) || digits < 0 || digits > 100) throw new SeqsamError('ERR_ARGUMENT', `metrics.format: digits must be an integer in 0..100 (got ${String(digits)})`);
  for (const part of ['mean', 'std'] as const) {
    const values = (result as Partial<typeof result> | null | undefined)?.[part];
    if (values === null || typeof values !== 'object') throw new SeqsamError('ERR_ARGUMENT', `metrics.format: result.${part} must be an object of metric values (pass what compute() returns)`);
    for (const [key] of metricNames) {
      if (typeof values[key] !== 'number') throw new SeqsamError('ERR_ARGUMENT', `metrics.format: result.${part}.${key} must be a number (got ${String(values[key])})`);
    }
  }
  const width = Math.max(...metricNames.map(([key]) => key.length));
  const num = (v: number) => (Number.isNaN(v) ? 'nan' : v.toFixed(digits));
  const notes = (key: MetricName) => {
    const out: string[] = [];
    const dropped = result.dropped?.[key] ?? 0;
    if (dropped > 0) out.push(`${dropped} image${dropped === 1 ? '' : 's'} without a value left out`);
    if (key === 'collectiveInsight') out.push(collectiveInsightNote);
    return out.length ? `  (${out.join('; ')})` : '';
  };
  return metricNames.map(([key]) => `${key.padEnd(width)}  ${num(result.mean[key])} ± ${num(result.std[key])}${notes(key)}`).join('\n');
}
