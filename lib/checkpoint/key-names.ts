// Hugging Face's transformers stores the same SAM tensors under other names (its convert_sam_to_hf.py
// applies these renames in order). Loading maps either naming, with an optional `sam.` / `model.`
// prefix, onto the official names the native model uses.
const officialToHuggingFace: ReadonlyArray<readonly [string, string]> = [
  ['iou_prediction_head.layers.0', 'iou_prediction_head.proj_in'],
  ['iou_prediction_head.layers.1', 'iou_prediction_head.layers.0'],
  ['iou_prediction_head.layers.2', 'iou_prediction_head.proj_out'],
  ['mask_decoder.output_upscaling.0', 'mask_decoder.upscale_conv1'],
  ['mask_decoder.output_upscaling.1', 'mask_decoder.upscale_layer_norm'],
  ['mask_decoder.output_upscaling.3', 'mask_decoder.upscale_conv2'],
  ['mask_downscaling.0', 'mask_embed.conv1'],
  ['mask_downscaling.1', 'mask_embed.layer_norm1'],
  ['mask_downscaling.3', 'mask_embed.conv2'],
  ['mask_downscaling.4', 'mask_embed.layer_norm2'],
  ['mask_downscaling.6', 'mask_embed.conv3'],
  ['point_embeddings', 'point_embed'],
  ['pe_layer.positional_encoding_gaussian_matrix', 'shared_embedding.positional_embedding'],
  ['image_encoder', 'vision_encoder'],
  ['neck.0', 'neck.conv1'],
  ['neck.1', 'neck.layer_norm1'],
  ['neck.2', 'neck.conv2'],
  ['neck.3', 'neck.layer_norm2'],
  ['patch_embed.proj', 'patch_embed.projection'],
  ['.norm', '.layer_norm'],
  ['blocks', 'layers'],
];

const hypernetworkLayer = /output_hypernetworks_mlps\.(\d+)\.layers\.(\d+)/;
const hypernetworkRenames = ['proj_in', 'layers.0', 'proj_out'];

// Tensors Hugging Face stores twice or adds; they carry nothing the official model lacks.
const huggingFaceExtras = new Set(['shared_image_embedding.positional_embedding']);

/** The Hugging Face transformers name of an official SAM tensor name (the renames of its convert_sam_to_hf.py). */
export function huggingFaceName(official: string): string {
  let name = official;
  for (const [from, to] of officialToHuggingFace) {
    if (name.includes(from)) name = name.replace(from, to);
  }
  const hyper = hypernetworkLayer.exec(name);
  if (hyper) {
    const layer = Number(hyper[2]);
    name = name.replace(`layers.${layer}`, hypernetworkRenames[layer] ?? `layers.${layer}`);
  }
  return name;
}

/** How a checkpoint's tensor names map onto the model's (see {@link mapCheckpointNames}). */
export interface KeyMapping {
  /** Checkpoint name → official name, for every checkpoint tensor that has one. */
  renamed: Map<string, string>;
  /** Checkpoint names that map to nothing in the model (reported by strict loading). */
  unmatched: string[];
  /** Which naming the checkpoint uses, decided for the whole checkpoint. */
  naming: 'official' | 'huggingface';
}

function stripPrefix(name: string): string {
  for (const prefix of ['sam.', 'model.', 'module.']) {
    if (name.startsWith(prefix)) return name.slice(prefix.length);
  }
  return name;
}

/**
 * Maps checkpoint names (official or Hugging Face, with an optional `sam.`, `model.` or `module.` prefix)
 * onto `officialNames` (the model's own keys). The naming is decided for the whole checkpoint, since a few
 * names exist in both with different meanings (Hugging Face's `iou_prediction_head.layers.0` is the
 * official `layers.1`). Tensors Hugging Face adds (`shared_image_embedding.positional_embedding`) are
 * neither renamed nor unmatched.
 */
export function mapCheckpointNames(checkpointNames: Iterable<string>, officialNames: Iterable<string>): KeyMapping {
  const official = new Set(officialNames);
  const fromHuggingFace = new Map<string, string>();
  for (const name of official) fromHuggingFace.set(huggingFaceName(name), name);
  const names = [...checkpointNames];
  const bare = names.map(stripPrefix);
  const huggingFace = bare.some((n) => fromHuggingFace.has(n) && !official.has(n));
  const lookup = huggingFace ? (n: string) => fromHuggingFace.get(n) : (n: string) => (official.has(n) ? n : undefined);
  const renamed = new Map<string, string>();
  const unmatched: string[] = [];
  names.forEach((name, i) => {
    const target = lookup(bare[i]);
    if (target) renamed.set(name, target);
    else if (!huggingFaceExtras.has(bare[i])) unmatched.push(name);
  });
  return { renamed, unmatched, naming: huggingFace ? 'huggingface' : 'official' };
}
