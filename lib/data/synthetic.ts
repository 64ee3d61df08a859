// The embedded default dataset: grey-level images of a textured lesion on a noisy background, annotated by
// raters who disagree in consistent *modes* (the structure SeqSAM's sequence of masks should recover):
//   rater 0 "satellite":    the lesion plus a faint satellite lobe next to it
//   rater 1 "conservative": the lesion eroded by `margin` pixels
//   rater 2 "generous":     the lesion dilated by `margin` pixels
//   rater 3 "absent":       the lesion as is, but in ~30 % of images marks nothing
// Raters 4, 5, … repeat the modes with a larger margin (mode = k mod 4, margin × (1 + ⌊k/4⌋)).
// Everything is a pure function of (seed, index): get(i) regenerates the sample on demand.

import { DataError } from './errors.js';
import { type Dataset, type Sample } from './types.js';
import { checkIndex } from './util.js';

/** Options of {@link synthetic}. */
export interface SyntheticOptions {
  /** Number of images (required; an integer in 1..1,000,000). */
  count: number;
  /** Image side in pixels (square images; default 64, 8..8192). */
  size?: number;
  /** Annotations per image (default 4, at most 256); rater k follows mode k mod 4. */
  raters?: number;
  /** Any integer; taken modulo 2^32 (default 0). The same seed gives the same images and labels. */
  seed?: number;
  /** Consecutive images that share a group ("patient"), for group splits (default 4). */
  perGroup?: number;
}

/**
 * How the synthetic raters disagree, rater k following mode k mod 4: 'satellite' (the lesion plus a faint
 * lobe next to it), 'conservative' (eroded by a margin), 'generous' (dilated by a margin), 'absent' (the
 * lesion as is, but marks nothing in about {@link ABSENT_PROBABILITY} of the images). Raters 4, 5, … repeat
 * the modes with a larger margin.
 */
export const SYNTHETIC_MODES = ['satellite', 'conservative', 'generous', 'absent'] as const;
/** One of {@link SYNTHETIC_MODES}. */
export type SyntheticMode = (typeof SYNTHETIC_MODES)[number];

/** Probability that an "absent"-mode rater marks nothing. */
export const ABSENT_PROBABILITY = 0.3;

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mixes two 32-bit integers into a well-spread 32-bit seed (splitmix-style finaliser). */
export function hashSeed(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Grey-level images of a textured lesion on a noisy background, annotated by raters who disagree in
 * consistent modes (see {@link SYNTHETIC_MODES}). Images are one-channel float32 in [0, 1]. Every sample
 * is a pure function of (seed, index): get(i) regenerates it on demand, synchronously.
 */
export class SyntheticDataset implements Dataset {
  /** Always `'synthetic'`. */
  readonly name = 'synthetic';
  /** The number of images (`count`). */
  readonly length: number;
  /** K, the annotations per image. */
  readonly raters: number;
  /** The images' side, in pixels. */
  readonly size: number;
  /** The seed in effect (taken modulo 2^32). */
  readonly seed: number;
  /** Every image's group, `patientNNNN`: `perGroup` consecutive images share one. */
  readonly groups: readonly string[];
  /** Each rater's mode. */
  readonly modes: readonly SyntheticMode[];
  /** Consecutive images per group. */
  readonly perGroup: number;

  /** @internal */
  constructor(count: number, size: number, raters: number, seed: number, perGroup: number) {
    this.length = count;
    this.size = size;
    this.raters = raters;
    this.seed = seed;
    this.perGroup = perGroup;
    this.modes = Array.from({ length: raters }, (_, k) => SYNTHETIC_MODES[k % 4]!);
    this.groups = Array.from({ length: count }, (_, i) => `patient${String(Math.floor(i / perGroup)).padStart(4, '0')}`);
  }

  /** Sample `i`, generated now (id `synthetic-NNNNN`). */
  get(i: number): Sample {
    checkIndex(this, i);
    return generate(this.seed, i, this.size, this.raters, this.groups[i]!);
  }
}

function generate(seed: number, index: number, size: number, raters: number, group: string): Sample {
  const rnd = mulberry32(hashSeed(seed, index));
  const uni = (lo: number, hi: number) => lo + (hi - lo) * rnd();
  const gauss = () => {
    const u = Math.max(rnd(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rnd());
  };

  // Lesion: a star-shaped blob R(θ) = r·(1 + Σ a_k cos(kθ + φ_k)).
  const r = size * uni(0.12, 0.2);
  const cx = size * uni(0.35, 0.65);
  const cy = size * uni(0.35, 0.65);
  const harmonics = [2, 3, 4].map((k) => ({ k, a: uni(0.03, 0.12), phi: uni(0, 2 * Math.PI) }));
  const radius = (theta: number) => r * (1 + harmonics.reduce((s, h) => s + h.a * Math.cos(h.k * theta + h.phi), 0));
  // Satellite lobe: a small disc just outside the boundary.
  const st = uni(0, 2 * Math.PI);
  const sr = r * uni(0.3, 0.45);
  const sd = radius(st) + sr * 0.6;
  const sx = cx + sd * Math.cos(st);
  const sy = cy + sd * Math.sin(st);
  const margin = Math.max(1, Math.round(size / 32));

  // Background: smooth illumination gradient; lesion: brighter with a sinusoidal texture; noise everywhere.
  const gx = uni(-0.15, 0.15);
  const gy = uni(-0.15, 0.15);
  const base = uni(0.25, 0.4);
  const contrast = uni(0.25, 0.4);
  const tf = uni(0.5, 1.2);
  const tphi = uni(0, 2 * Math.PI);
  const noise = uni(0.03, 0.07);

  const n = size * size;
  const image = new Float32Array(n);
  const signed = new Float32Array(n); // R(θ) − ρ: > 0 inside the lesion
  const inSat = new Uint8Array(n);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const rho = Math.hypot(dx, dy);
      const d = radius(Math.atan2(dy, dx)) - rho;
      signed[p] = d;
      const sat = Math.hypot(x + 0.5 - sx, y + 0.5 - sy) < sr;
      inSat[p] = sat ? 1 : 0;
      const inside = 1 / (1 + Math.exp(-d / 1.2)); // soft edge
      const texture = 0.5 + 0.5 * Math.sin(tf * x + tphi) * Math.cos(tf * 0.8 * y - tphi);
      let v = base + gx * (x / size - 0.5) + gy * (y / size - 0.5);
      v += inside * contrast * (0.75 + 0.25 * texture);
      if (sat) v += contrast * 0.45;
      v += noise * gauss();
      image[p] = Math.min(1, Math.max(0, v));
    }
  }

  const labels: Uint8Array[] = [];
  for (let k = 0; k < raters; k++) {
    const mode = SYNTHETIC_MODES[k % 4]!;
    const m = margin * (1 + Math.floor(k / 4));
    // Each rater's own draw, independent of the others, so adding raters never changes earlier ones.
    const own = mulberry32(hashSeed(hashSeed(seed, index), k + 1));
    const mask = new Uint8Array(n);
    const blank = mode === 'absent' && own() < ABSENT_PROBABILITY;
    if (!blank) {
      const offset = mode === 'conservative' ? -m : mode === 'generous' ? m : 0;
      for (let p = 0; p < n; p++) {
        mask[p] = signed[p]! + offset > 0 || (mode === 'satellite' && inSat[p] === 1) ? 1 : 0;
      }
    }
    labels.push(mask);
  }

  return {
    id: `synthetic-${String(index).padStart(5, '0')}`,
    group,
    image: { data: image, width: size, height: size, channels: 1 },
    labels,
  };
}

/** The most images synthetic() makes: each has a group name held in memory, and far more is never a real use. */
export const SYNTHETIC_MAX_COUNT = 1_000_000;
/** The most raters synthetic() makes: every sample holds one mask per rater. */
export const SYNTHETIC_MAX_RATERS = 256;

function positiveInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const range = max < Number.MAX_SAFE_INTEGER ? ` in ${min}..${max}` : ` ≥ ${min}`;
    throw new DataError(`synthetic: option ${name} must be an integer${range}, got ${String(v)}`, 'ERR_ARGUMENT');
  }
  return v;
}

/**
 * A deterministic synthetic multi-rater dataset (see {@link SYNTHETIC_MODES}): the embedded default for
 * demos and tests. Unlike the file loaders it returns the dataset directly, not a promise.
 */
export function synthetic(options: SyntheticOptions): SyntheticDataset {
  if (options === null || typeof options !== 'object') throw new DataError('synthetic: options { count } are required', 'ERR_ARGUMENT');
  const count = positiveInt('count', options.count, 1, SYNTHETIC_MAX_COUNT);
  const size = positiveInt('size', options.size ?? 64, 8);
  if (size > 8192) throw new DataError(`synthetic: option size must be ≤ 8192, got ${size}`, 'ERR_ARGUMENT');
  const raters = positiveInt('raters', options.raters ?? 4, 1, SYNTHETIC_MAX_RATERS);
  const perGroup = positiveInt('perGroup', options.perGroup ?? 4, 1);
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) {
    throw new DataError(`synthetic: option seed must be an integer, got ${String(seed)}`, 'ERR_ARGUMENT');
  }
  return new SyntheticDataset(count, size, raters, seed >>> 0, perGroup);
}
