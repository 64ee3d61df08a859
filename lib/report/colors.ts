// Colours of the report: one distinct hue per mask (Tableau 10, readable on grey images) and a perceptual
// heat map for the per-pixel disagreement between hypotheses.
export type Rgb = readonly [number, number, number];

export const maskColors: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [188, 189, 34],
  [23, 190, 207],
  [127, 127, 127],
];

export function maskColor(index: number): Rgb {
  return maskColors[index % maskColors.length]!;
}

export function cssColor([r, g, b]: Rgb): string {
  return `rgb(${r}, ${g}, ${b})`;
}

// Stops of matplotlib's "inferno" (black → purple → orange → pale yellow), linearly interpolated.
const infernoStops: readonly Rgb[] = [
  [0, 0, 4],
  [40, 11, 84],
  [101, 21, 110],
  [159, 42, 99],
  [212, 72, 66],
  [245, 125, 21],
  [250, 193, 39],
  [252, 255, 164],
];

// t in [0, 1] (clamped) → colour.
export function inferno(t: number): Rgb {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (infernoStops.length - 1);
  const i = Math.min(infernoStops.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [infernoStops[i]!, infernoStops[i + 1]!];
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}
