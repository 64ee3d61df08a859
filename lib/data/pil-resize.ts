// Image resizing as Pillow's Image.resize computes it (separable convolution, horizontal pass first),
// for reproducing preprocessing done with Pillow. Filters: bicubic (a = −0.5, Pillow's default for
// 8-bit and float images) and bilinear. 8-bit images use Pillow's fixed-point weights and round and clip
// after each pass; float images use double weights and keep float32 between passes.

export type PilFilter = 'bicubic' | 'bilinear';

const filters: Record<PilFilter, { support: number; weight: (x: number) => number }> = {
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  bilinear: { support: 1, weight: (x) => Math.max(0, 1 - Math.abs(x)) },
};

interface Taps {
  first: Int32Array; // first input index of each output
  count: Int32Array; // how many inputs each output reads
  weights: Float64Array[]; // normalised weights per output
}

// Pillow's precompute_coeffs: the window of inputs around each output centre, widened when shrinking.
function taps(inSize: number, outSize: number, filter: PilFilter): Taps {
  const { support: baseSupport, weight } = filters[filter];
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = baseSupport * filterScale;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let out = 0; out < outSize; out++) {
    const centre = (out + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const w = new Float64Array(Math.max(0, hi - lo));
    let total = 0;
    for (let i = 0; i < w.length; i++) {
      w[i] = weight((i + lo - centre + 0.5) / filterScale);
      total += w[i]!;
    }
    if (total !== 0) for (let i = 0; i < w.length; i++) w[i]! /= total;
    first[out] = lo;
    count[out] = w.length;
    weights.push(w);
  }
  return { first, count, weights };
}

const precisionBits = 32 - 8 - 2;

// Pillow's 8-bit weights: each normalised weight in fixed point, rounded away from zero.
function fixedPoint(weights: Float64Array): Int32Array {
  return Int32Array.from(weights, (w) => (w < 0 ? Math.trunc(-0.5 + w * (1 << precisionBits)) : Math.trunc(0.5 + w * (1 << precisionBits))));
}

function clip8(sum: number): number {
  const v = Math.floor(sum / (1 << precisionBits));
  return v < 0 ? 0 : v > 255 ? 255 : v;
}


/** An 8-bit one-channel image (row-major height×width) resized to outHeight×outWidth as Pillow does. */
export function resizeUint8(data: Uint8Array, width: number, height: number, outWidth: number, outHeight: number, filter: PilFilter = 'bicubic'): Uint8Array {
  const horizontal = taps(width, outWidth, filter);
  const hWeights = horizontal.weights.map(fixedPoint);
  const mid = new Uint8Array(outWidth * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      let sum = 1 << (precisionBits - 1);
      const w = hWeights[x]!;
      const base = y * width + horizontal.first[x]!;
      for (let i = 0; i < w.length; i++) sum += data[base + i]! * w[i]!;
      mid[y * outWidth + x] = clip8(sum);
    }
  }
  const vertical = taps(height, outHeight, filter);
  const vWeights = vertical.weights.map(fixedPoint);
  const out = new Uint8Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const w = vWeights[y]!;
    const top = vertical.first[y]!;
    for (let x = 0; x < outWidth; x++) {
      let sum = 1 << (precisionBits - 1);
      for (let i = 0; i < w.length; i++) sum += mid[(top + i) * outWidth + x]! * w[i]!;
      out[y * outWidth + x] = clip8(sum);
    }
  }
  return out;
}

/** A float one-channel image resized as Pillow does for mode 'F' (float32 between and after the passes). */
export function resizeFloat(data: ArrayLike<number>, width: number, height: number, outWidth: number, outHeight: number, filter: PilFilter = 'bicubic'): Float32Array {
  const horizontal = taps(width, outWidth, filter);
  const mid = new Float32Array(outWidth * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < outWidth; x++) {
      const w = horizontal.weights[x]!;
      const base = y * width + horizontal.first[x]!;
      let sum = 0;
      for (let i = 0; i < w.length; i++) sum += data[base + i]! * w[i]!;
      mid[y * outWidth + x] = sum;
    }
  }
  const vertical = taps(height, outHeight, filter);
  const out = new Float32Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const w = vertical.weights[y]!;
    const top = vertical.first[y]!;
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (let i = 0; i < w.length; i++) sum += mid[(top + i) * outWidth + x]! * w[i]!;
      out[y * outWidth + x] = sum;
    }
  }
  return out;
}
