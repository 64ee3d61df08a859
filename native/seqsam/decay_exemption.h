// Which parameters AdamW leaves out of weight decay, decided by parameter name.
#pragma once
#include <string>

namespace seqsam::seq {

enum class DecayExemption {
  None,         // every trained parameter decays (default)
  BiasAndNorm,  // biases and LayerNorm weights do not decay, as Hugging Face's Trainer sets up AdamW
};

DecayExemption parseDecayExemption(const std::string& name);

// True when `parameterName` (a dotted module path, e.g. "mask_decoder.transformer.layers.0.norm1.weight")
// is exempt from decay under `rule`. BiasAndNorm exempts every ".bias" and the parameters of the
// transformer's LayerNorms (modules named norm1..norm4, norm_final_attn). The channel-wise LayerNorm2d
// layers (output_upscaling.1, mask_downscaling.1/.4) keep their decay: the reference's library exempted
// LayerNorm modules by type, and its 2-D layer norm is not one.
bool isDecayExempt(const std::string& parameterName, DecayExemption rule);

}  // namespace seqsam::seq
