// Prompt validation and packing: boxes and points in original-image pixels become native tensors.
import { SeqsamError } from '../errors.js';
import { Tensor } from '../tensor.js';

/** A point [x, y] in original-image pixels (inside the image: 0 ≤ x ≤ width, 0 ≤ y ≤ height). */
export type Point = [number, number];
/** A box [x0, y0, x1, y1] in original-image pixels, inside the image, with x0 ≤ x1 and y0 ≤ y1. */
export type Box = [number, number, number, number];

/**
 * A prompt, in original-image pixels: give points and/or a box (at least one). For one prompt use
 * `points`/`pointLabels`/`box`; for several against the same image (batched) use `boxes` and/or
 * `pointSets`/`pointLabelSets`, which take precedence. Everything is checked before anything runs
 * (`ERR_ARGUMENT` / `ERR_SHAPE` naming the field).
 */
export interface PromptInput {
  /** One prompt's points; needs `pointLabels`, one label per point. */
  points?: Point[];
  /** A label per point: 1 foreground, 0 background, -1 ignored. */
  pointLabels?: number[];
  /** One prompt's box. */
  box?: Box;
  /** Several prompts (batched): one box each. With `pointSets`, one point set per box. */
  boxes?: Box[];
  /** Several prompts (batched): one point list each, every list of the same length. */
  pointSets?: Point[][];
  /** The labels of `pointSets`, list for list. */
  pointLabelSets?: number[][];
  /** Low-res logits (B, 1, 4h, 4w) from an earlier prediction (`lowResLogits`), fed back as a mask prompt; plain SAM only. */
  maskInput?: Tensor;
}

export interface PackedPrompts {
  batch: number;
  tensors: { points?: Tensor; pointLabels?: Tensor; boxes?: Tensor; maskInput?: Tensor };
  dispose(): void;
}

function checkPoint(point: unknown, where: string, width: number, height: number): void {
  if (!Array.isArray(point) || point.length !== 2) throw new SeqsamError('ERR_ARGUMENT', `${where} must be an [x, y] pair (got ${JSON.stringify(point) ?? String(point)})`);
  const [x, y] = point as Point;
  if (typeof x !== 'number' || typeof y !== 'number' || !Number.isFinite(x) || !Number.isFinite(y)) {
    throw new SeqsamError('ERR_ARGUMENT', `${where} = (${x}, ${y}) is not a finite coordinate`);
  }
  if (x < 0 || y < 0 || x > width || y > height) {
    throw new SeqsamError('ERR_ARGUMENT', `${where} = (${x}, ${y}) lies outside the ${width}×${height} image`);
  }
}

function checkBox(box: Box, where: string, width: number, height: number): void {
  if (!Array.isArray(box) || box.length !== 4) throw new SeqsamError('ERR_ARGUMENT', `${where} must be [x0, y0, x1, y1]`);
  const [x0, y0, x1, y1] = box;
  checkPoint([x0, y0], `${where} corner (x0, y0)`, width, height);
  checkPoint([x1, y1], `${where} corner (x1, y1)`, width, height);
  if (x1 < x0 || y1 < y0) throw new SeqsamError('ERR_ARGUMENT', `${where} = [${box.join(', ')}] has x1 < x0 or y1 < y0`);
}

function checkList(value: unknown, field: string): void {
  if (value !== undefined && !Array.isArray(value)) throw new SeqsamError('ERR_ARGUMENT', `prompt: ${field} must be an array`);
}

/** Refuses a missing or non-object prompt with ERR_ARGUMENT (before anything reads its fields). */
export function checkPromptObject(what: string, prompt: unknown): asserts prompt is PromptInput {
  if (prompt === null || typeof prompt !== 'object' || Array.isArray(prompt)) {
    throw new SeqsamError('ERR_ARGUMENT', `${what}: give a prompt object, e.g. { box: [x0, y0, x1, y1] } or { points: [[x, y]], pointLabels: [1] } (got ${String(prompt)})`);
  }
}

// Validates against the original image size and packs prompts into (B, ...) tensors. Everything is
// checked before the first tensor is made, so a refused prompt leaves nothing behind.
export function packPrompts(input: PromptInput, width: number, height: number, device = 'cpu'): PackedPrompts {
  checkPromptObject('predict', input);
  for (const field of ['points', 'pointLabels', 'box', 'boxes', 'pointSets', 'pointLabelSets'] as const) checkList(input[field], field);
  const boxes = input.boxes ?? (input.box ? [input.box] : undefined);
  const pointSets = input.pointSets ?? (input.points ? [input.points] : undefined);
  const labelSets = input.pointLabelSets ?? (input.pointLabels ? [input.pointLabels] : undefined);
  if (!boxes && !pointSets) throw new SeqsamError('ERR_ARGUMENT', 'prompt: give points or a box');
  const batch = boxes?.length ?? pointSets!.length;
  if (batch === 0) throw new SeqsamError('ERR_ARGUMENT', 'prompt: the prompt list is empty');
  if (boxes) boxes.forEach((b, i) => checkBox(b, boxes.length > 1 ? `boxes[${i}]` : 'box', width, height));
  let n = 0;
  if (pointSets) {
    if (pointSets.length !== batch) throw new SeqsamError('ERR_SHAPE', `prompt: ${pointSets.length} point sets for ${batch} boxes`);
    if (!labelSets || labelSets.length !== batch) throw new SeqsamError('ERR_ARGUMENT', 'prompt: pointLabels must accompany points, one label per point');
    pointSets.forEach((set, i) => checkList(set, `pointSets[${i}]`));
    labelSets.forEach((set, i) => checkList(set, `pointLabelSets[${i}]`));
    n = pointSets[0].length;
    if (n === 0) throw new SeqsamError('ERR_ARGUMENT', 'prompt: points is empty');
    pointSets.forEach((set, i) => {
      if (set.length !== n) throw new SeqsamError('ERR_SHAPE', `prompt: every point set needs ${n} points (set ${i} has ${set.length})`);
      if (labelSets[i].length !== n) throw new SeqsamError('ERR_SHAPE', `prompt: point set ${i} has ${n} points but ${labelSets[i].length} labels`);
      set.forEach((p, j) => checkPoint(p, `points[${j}]`, width, height));
      labelSets[i].forEach((l, j) => {
        if (l !== 0 && l !== 1 && l !== -1) throw new SeqsamError('ERR_ARGUMENT', `pointLabels[${j}] = ${l}: use 1 (foreground), 0 (background) or -1 (ignore)`);
      });
    });
  }
  if (input.maskInput !== undefined && !(input.maskInput instanceof Tensor)) throw new SeqsamError('ERR_ARGUMENT', 'prompt: maskInput must be a Tensor');
  const tensors: PackedPrompts['tensors'] = {};
  const dispose = () => {
    for (const [key, t] of Object.entries(tensors)) if (key !== 'maskInput') t.dispose();
  };
  try {
    if (boxes) tensors.boxes = Tensor.from(Float32Array.from(boxes.flat()), [batch, 4], { device });
    if (pointSets) {
      tensors.points = Tensor.from(Float32Array.from(pointSets.flat(2)), [batch, n, 2], { device });
      tensors.pointLabels = Tensor.from(Int32Array.from(labelSets!.flat()), [batch, n], { device });
    }
  } catch (error) {
    dispose();
    throw error;
  }
  if (input.maskInput) tensors.maskInput = input.maskInput;
  return { batch, tensors, dispose };
}
