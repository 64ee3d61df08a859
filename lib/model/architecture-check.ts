// A checkpoint made for another architecture (ViT-B weights into a tiny SAM, or the reverse) would fail
// strict loading with every one of its hundreds of names; this says what the checkpoint is instead.
import { SeqsamError } from '../errors.js';
import type { SamConfig } from './config.js';

// Encoder depth and width of the official presets, to name what a checkpoint is.
const presetEncoders: ReadonlyArray<{ name: string; depth: number; width: number }> = [
  { name: 'vit_b', depth: 12, width: 768 },
  { name: 'vit_l', depth: 24, width: 1024 },
  { name: 'vit_h', depth: 32, width: 1280 },
];

function describe(depth: number, width: number): string {
  return presetEncoders.find((p) => p.depth === depth && p.width === width)?.name ?? `a SAM of encoder depth ${depth} and width ${width}`;
}

// Encoder depth and width read from official tensor names and shapes; null when the checkpoint holds no
// image encoder (e.g. a decoder-only file).
function encoderOf(shapes: ReadonlyMap<string, readonly number[]>): { depth: number; width: number } | null {
  const patch = shapes.get('image_encoder.patch_embed.proj.weight');
  if (!patch) return null;
  let depth = 0;
  for (const name of shapes.keys()) {
    const block = /^image_encoder\.blocks\.(\d+)\./.exec(name);
    if (block) depth = Math.max(depth, Number(block[1]) + 1);
  }
  return { depth, width: patch[0]! };
}

// ERR_CHECKPOINT naming both architectures when the checkpoint's encoder is not the model's; else null.
export function architectureMismatch(path: string, shapes: ReadonlyMap<string, readonly number[]>, model: SamConfig, missing: readonly string[]): SeqsamError | null {
  const found = encoderOf(shapes);
  const depth = model.encoder?.depth;
  const width = model.encoder?.embed_dim;
  if (!found || depth === undefined || width === undefined || (found.depth === depth && found.width === width)) return null;
  const examples = missing.slice(0, 3).join(', ');
  return new SeqsamError(
    'ERR_CHECKPOINT',
    `${path}: this checkpoint is not a ${describe(depth, width)}: its image encoder has depth ${found.depth} and width ${found.width}` +
      ` (${describe(found.depth, found.width)}); load it with that architecture (--preset, --config)` +
      (examples ? `. The model expects e.g. ${examples}` : ''),
  );
}
