// `seqsam predict`: image(s) + a box (or points) → M mask PNGs, an overlay, the rater-disagreement map
// (mean and variance of the hypotheses), and JSON with the predicted IoUs and mask areas.
import { writeFile } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

import sharp from 'sharp';
import type { Argv, CommandModule } from 'yargs';

import { SeqsamError } from '../errors.js';
import { ensureDirectory } from '../fs-paths.js';
import { decodeEncoded } from '../model/image-input.js';
import type { Box, Point } from '../model/prompts.js';
import { maskColor } from '../report/colors.js';
import { heatMap, overlay, toRgb, drawBox, type RgbImage } from '../report/raster.js';
import { requireWeights, withModelOptions, type ModelArgs } from './model-flags.js';
import { loadModel } from './model-options.js';

interface PredictArgs extends ModelArgs {
  images: string[];
  box?: number[];
  point?: string[];
  pointLabel?: number[];
  numMasks: number;
  out: string;
}

function parsePoints(points: string[] | undefined, labels: number[] | undefined): { points?: Point[]; pointLabels?: number[] } {
  if (!points?.length) return {};
  const parsed = points.map((text): Point => {
    const [x, y, ...rest] = text.split(',').map(Number);
    if (rest.length || !Number.isFinite(x) || !Number.isFinite(y)) throw new SeqsamError('ERR_ARGUMENT', `--point ${text}: expected x,y`);
    return [x!, y!];
  });
  const pointLabels = labels ?? parsed.map(() => 1);
  if (pointLabels.length !== parsed.length) throw new SeqsamError('ERR_ARGUMENT', `--point-label: ${pointLabels.length} labels for ${parsed.length} points`);
  return { points: parsed, pointLabels };
}

const png = (image: RgbImage) => sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer();
const greyPng = (data: Uint8Array, width: number, height: number) => sharp(data, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();

export const predictCommand: CommandModule<object, PredictArgs> = {
  command: 'predict <images..>',
  describe: 'Segment image(s) from a box or points: M masks, overlay, disagreement map, JSON',
  builder: (y) =>
    withModelOptions(y, ['model', 'preset', 'config', 'checkpoint', 'device', 'seed', 'threads', 'random-weights'])
      .positional('images', { type: 'string', array: true, demandOption: true, describe: 'image files (PNG, JPEG, TIFF, ...)' })
      .option('box', { type: 'array', number: true, describe: 'x0 y0 x1 y1 in image pixels' })
      .option('point', { type: 'array', string: true, describe: 'x,y (repeat for several)' })
      .option('point-label', { type: 'array', number: true, describe: '1 foreground / 0 background, one per point (default 1)' })
      .option('num-masks', { type: 'number', default: 4, describe: 'M hypotheses (SeqSAM; a SAM-MCL model gives 3, single-mask SAM 1)' })
      .option('out', { type: 'string', default: 'seqsam-predictions', describe: 'output folder (one subfolder per image)' })
      .example('$0 predict ct.png --box 40 60 140 200 --checkpoint runs/lidc/best.safetensors --num-masks 10', '10 plausible masks') as unknown as Argv<PredictArgs>,
  handler: async (args) => {
    if (args.box && args.box.length !== 4) throw new SeqsamError('ERR_ARGUMENT', `--box takes four numbers x0 y0 x1 y1 (got ${args.box.length})`);
    const prompt = { ...(args.box ? { box: args.box as Box } : {}), ...parsePoints(args.point, args.pointLabel) };
    if (!prompt.box && !prompt.points) throw new SeqsamError('ERR_ARGUMENT', 'give a prompt: --box x0 y0 x1 y1 and/or --point x,y');
    requireWeights(args, 'predict');
    const model = await loadModel(args);
    try {
      const given = model.masksPerPrompt(args.numMasks);
      if (given !== args.numMasks) process.stderr.write(`seqsam predict: a ${model.training?.objective} model gives ${given} mask(s) per prompt, not the ${args.numMasks} --num-masks asks for\n`);
      for (const file of args.images) {
        const pixels = await decodeEncoded(file);
        const { width, height } = pixels;
        using embedding = await model.embed(pixels);
        using prediction = await model.predict(embedding, { ...prompt, numMasks: args.numMasks });
        const count = prediction.masks.shape[1]!;
        const logits = (await prediction.masks.toTypedArray()) as Float32Array;
        const iou = Array.from((await prediction.iou.toTypedArray()) as Float32Array);
        const variance = (await prediction.variance.toTypedArray()) as Float32Array;
        const mean = (await prediction.mean.toTypedArray()) as Float32Array;

        const dir = join(args.out, basename(file, extname(file)));
        await ensureDirectory('--out', dir);
        const base = toRgb(pixels);
        let picture = prompt.box ? drawBox(base, prompt.box, [255, 215, 0]) : base;
        const plane = width * height;
        const masks = [];
        for (let m = 0; m < count; m++) {
          const mask = new Uint8Array(plane);
          let area = 0;
          for (let p = 0; p < plane; p++) if (logits[m * plane + p]! > 0) (mask[p] = 255), area++;
          const name = `mask_${String(m + 1).padStart(2, '0')}.png`;
          await writeFile(join(dir, name), await greyPng(mask, width, height));
          picture = overlay(picture, mask, maskColor(m), 0.25);
          masks.push({ index: m, file: name, iou: iou[m], area, fraction: area / plane });
        }
        await writeFile(join(dir, 'overlay.png'), await png(picture));
        await writeFile(join(dir, 'uncertainty.png'), await png(heatMap(variance, width, height, 0.25)));
        await writeFile(join(dir, 'mean.png'), await greyPng(Uint8Array.from(mean, (v) => Math.round(v * 255)), width, height));
        const summary = { image: file, width, height, prompt, model: model.training?.objective ?? 'seqsam', masks, meanVariance: variance.reduce((a, v) => a + v, 0) / plane };
        await writeFile(join(dir, 'prediction.json'), `${JSON.stringify(summary, null, 2)}\n`);
        process.stdout.write(`${file}: ${count} mask(s) → ${dir}\n`);
      }
    } finally {
      model.dispose();
    }
  },
};
