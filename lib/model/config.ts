// SAM architecture numbers, in the JSON form the official fixtures use (snake_case).
export type SamPreset = 'vit_b' | 'vit_l' | 'vit_h';

export interface SamConfig {
  image_size?: number;
  patch_size?: number;
  encoder?: {
    embed_dim?: number;
    depth?: number;
    num_heads?: number;
    mlp_ratio?: number;
    window_size?: number;
    global_attn_indexes?: number[];
    use_rel_pos?: boolean;
    qkv_bias?: boolean;
    layer_norm_eps?: number;
  };
  prompt_embed_dim?: number;
  mask_in_chans?: number;
  decoder?: {
    transformer_depth?: number;
    transformer_mlp_dim?: number;
    transformer_num_heads?: number;
    attention_downsample_rate?: number;
    num_multimask_outputs?: number;
    iou_head_depth?: number;
    iou_head_hidden_dim?: number;
  };
  pixel_mean?: [number, number, number];
  pixel_std?: [number, number, number];
}

export const presets: readonly SamPreset[] = ['vit_b', 'vit_l', 'vit_h'];

// A small SAM (ViT of width 64, depth 4, 256² input) that trains and runs in seconds on a CPU:
// the embedded default for demos and tests when no real checkpoint is at hand.
export const tinyConfig: SamConfig = {
  image_size: 256,
  patch_size: 16,
  encoder: { embed_dim: 64, depth: 4, num_heads: 4, mlp_ratio: 4, window_size: 5, global_attn_indexes: [1, 3], use_rel_pos: true, qkv_bias: true, layer_norm_eps: 1e-6 },
  prompt_embed_dim: 32,
  mask_in_chans: 16,
  decoder: { transformer_depth: 2, transformer_mlp_dim: 64, transformer_num_heads: 4, attention_downsample_rate: 2, num_multimask_outputs: 3, iou_head_depth: 3, iou_head_hidden_dim: 32 },
};
