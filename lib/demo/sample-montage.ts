// One montage per image: the image with its box prompt, the K annotations, each model's hypotheses and
// its disagreement map (per-pixel variance of the hypotheses' probabilities), one row per model.
import { hashSeed, mulberry32 } from '../data/synthetic.js';
import { prepareSample } from '../data/prepare.js';
import type { Sample } from '../data/types.js';
import type { SeqSam } from '../model/seqsam.js';
import { maskColor } from '../report/colors.js';
import { montage, type MontageRow } from '../report/montage.js';
import { blank, drawBox, heatMap, overlay, toRgb, type RgbImage } from '../report/raster.js';

export interface MontageModel {
  title: string;
  model: SeqSam;
  numMasks: number;
}

// The map shows the standard deviation of the probabilities, in [0, 0.5]: full scale means the hypotheses
// split evenly at that pixel.
const maxStd = 0.5;

// The box is drawn as the evaluation draws it (a label chosen with a generator seeded by (seed, index)).
export async function sampleMontage(sample: Sample, index: number, models: readonly MontageModel[], options: { seed: number; tile?: number }): Promise<Buffer> {
  const first = models[0]!.model;
  const imageSize = first.config.image_size;
  const prepared = prepareSample(sample, { imageSize, boxFrom: 'random-label', rng: mulberry32(hashSeed(options.seed, index)) });
  const { width, height } = sample.image;
  const base = toRgb(sample.image);
  const withBox = drawBox(base, prepared.boxOriginal, [255, 215, 0]);
  const labels = sample.labels.map((mask, k) => overlay(base, mask, maskColor(k)));
  const widest = Math.max(...models.map((m) => m.model.masksPerPrompt(m.numMasks)));
  const columns = ['image + box', ...labels.map((_, k) => `rater ${k + 1}`), ...Array.from({ length: widest }, (_, m) => `mask ${m + 1}`), 'disagreement'];

  const rows: MontageRow[] = [];
  const embedding = await first.embed(prepared.image);
  try {
    for (const [r, entry] of models.entries()) {
      using prediction = await entry.model.predict(embedding, { box: prepared.boxOriginal, numMasks: entry.numMasks });
      const count = prediction.masks.shape[1]!;
      const logits = (await prediction.masks.toTypedArray()) as Float32Array;
      const variance = (await prediction.variance.toTypedArray()) as Float32Array;
      const plane = width * height;
      const hypotheses: Array<RgbImage | null> = Array.from({ length: widest }, (_, m) => {
        if (m >= count) return null;
        const mask = new Uint8Array(plane);
        for (let p = 0; p < plane; p++) mask[p] = logits[m * plane + p]! > 0 ? 1 : 0;
        return overlay(base, mask, maskColor(m));
      });
      const context = r === 0 ? [withBox, ...labels] : [null, ...labels.map(() => null)];
      rows.push({ title: entry.title, tiles: [...context, ...hypotheses, heatMap(variance.map(Math.sqrt), width, height, maxStd)] });
    }
  } finally {
    embedding.dispose();
  }
  if (!rows.length) rows.push({ title: '', tiles: [withBox, ...labels, blank(width, height)] });
  return montage(rows, { columns, tile: options.tile ?? 112 });
}
