// SAM architecture numbers, in the JSON form the official fixtures use (snake_case).

/** The official SAM architectures (`build_sam`'s numbers): ViT-B, ViT-L, ViT-H. */
export type SamPreset = 'vit_b' | 'vit_l' | 'vit_h';

/**
 * SAM's architecture numbers, in the JSON form the official fixtures use (snake_case). Every field is
 * optional: one left out takes ViT-B's value (given below). Unknown or ill-typed fields, and values out of
 * range, are refused with `ERR_ARGUMENT` naming the field.
 */
export interface SamConfig {
  /** Side of the square the encoder sees (images are resized and padded to it): a multiple of patch_size, at most 4096. Default 1024. */
  image_size?: number;
  /** The ViT's patch side, in pixels. Default 16. */
  patch_size?: number;
  /** The ViT image encoder. */
  encoder?: {
    /** Width of the ViT (at most 8192). Default 768 (ViT-L 1024, ViT-H 1280). */
    embed_dim?: number;
    /** Number of transformer blocks (at most 128). Default 12 (ViT-L 24, ViT-H 32). */
    depth?: number;
    /** Attention heads; must divide embed_dim. Default 12 (ViT-L and ViT-H 16). */
    num_heads?: number;
    /** MLP width as a multiple of embed_dim (at most 16). Default 4. */
    mlp_ratio?: number;
    /** Side of the local attention windows, in patches; 0 makes every block global (at most 1024). Default 14. */
    window_size?: number;
    /** Indexes (0-based, below depth) of the blocks with global attention. Default [2, 5, 8, 11] (ViT-L [5, 11, 17, 23], ViT-H [7, 15, 23, 31]). */
    global_attn_indexes?: number[];
    /** Relative position embeddings in attention. Default true. */
    use_rel_pos?: boolean;
    /** A bias on the query/key/value projection. Default true. */
    qkv_bias?: boolean;
    /** The encoder's LayerNorm ε (> 0). Default 1e-6. */
    layer_norm_eps?: number;
  };
  /** Width shared by the encoder's neck, the prompt encoder and the mask decoder: even, 8 to 4096. Default 256. */
  prompt_embed_dim?: number;
  /** Hidden channels of the mask-prompt downscaling (4 to 1024). Default 16. */
  mask_in_chans?: number;
  /** The two-way transformer and the mask decoder's heads. */
  decoder?: {
    /** Two-way transformer blocks (0 to 32). Default 2. */
    transformer_depth?: number;
    /** The transformer's MLP width. Default 2048. */
    transformer_mlp_dim?: number;
    /** Attention heads; must divide prompt_embed_dim and its downsampled width. Default 8. */
    transformer_num_heads?: number;
    /** How much cross-attention narrows the width; must divide prompt_embed_dim. Default 2. */
    attention_downsample_rate?: number;
    /** Masks of the ambiguity heads (multimask output), at most 64. Default 3. */
    num_multimask_outputs?: number;
    /** Layers of the IoU prediction head (at most 32). Default 3. */
    iou_head_depth?: number;
    /** Hidden width of the IoU prediction head. Default 256. */
    iou_head_hidden_dim?: number;
  };
  /** Per-channel RGB mean subtracted from the pixels (0..255 scale). Default [123.675, 116.28, 103.53]. Not in the state dict. */
  pixel_mean?: [number, number, number];
  /** Per-channel RGB standard deviation the pixels are divided by (non-zero). Default [58.395, 57.12, 57.375]. Not in the state dict. */
  pixel_std?: [number, number, number];
}

/** Every {@link SamPreset}, in order of size. */
export const presets: readonly SamPreset[] = ['vit_b', 'vit_l', 'vit_h'];

/**
 * A small SAM (ViT of width 64, depth 4, 256² input) that trains and runs in seconds on a CPU: the
 * embedded default for demos and tests when no real checkpoint is at hand. Its pixel_mean / pixel_std are
 * SAM's.
 */
export const tinyConfig: SamConfig = {
  image_size: 256,
  patch_size: 16,
  encoder: { embed_dim: 64, depth: 4, num_heads: 4, mlp_ratio: 4, window_size: 5, global_attn_indexes: [1, 3], use_rel_pos: true, qkv_bias: true, layer_norm_eps: 1e-6 },
  prompt_embed_dim: 32,
  mask_in_chans: 16,
  decoder: { transformer_depth: 2, transformer_mlp_dim: 64, transformer_num_heads: 4, attention_downsample_rate: 2, num_multimask_outputs: 3, iou_head_depth: 3, iou_head_hidden_dim: 32 },
};
