// Multi-annotator segmentation metrics (after BenjaminTowle/SeqSAM src/metrics.py): per image, M predicted
// masks against K annotators' masks. Vectorised torch code on any device; the only per-image loop is the
// Hungarian matching of hm_iou, which runs on small (lcm(M, K))² matrices on the CPU.
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace seqsam::metrics {

// name -> (N,) float64 tensor on the predictions' device, in a fixed order:
// dice, dice_max, dice_nod, ged, sample_diversity, label_diversity, collective_insight, hm_iou.
using MetricTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Checks predictions (N, M, H, W) and labels (N, K, H, W): 4-D, same N, H and W, M >= 1, K >= 1
// (ERR_SHAPE naming both shapes otherwise).
// The largest lcm(M, K) that HM-IoU accepts: its assignment is cubic in that size.
inline constexpr int64_t kMaxMatchedSize = 1024;

void checkShapes(const torch::Tensor& predictions, const torch::Tensor& labels);

// Binary masks from predictions: floating point -> value > threshold; bool -> as is; integers -> value != 0.
torch::Tensor binarize(const torch::Tensor& predictions, double threshold = 0.0);

// predictions: (N, M, H, W) (binarised with `binarize`), labels: (N, K, H, W) (nonzero = foreground).
// Per image:
//  dice               majority vote of the M predictions (a pixel is on when more than half are; numpy's
//                     round-half-to-even makes an exact half off) against each label, averaged over the
//                     labels; the Dice of two empty masks counts 0.
//  dice_max           for each prediction its best Dice against any label, averaged over predictions
//                     (an empty prediction against an empty label has Dice 0/0 = NaN, which propagates,
//                     as in the reference).
//  dice_nod           as dice over the non-blank labels only; NaN when every label is blank.
//  ged                2·E[d(s,y)] − E[d(s,s')] − E[d(y,y')], d = 1 − IoU (0 when both masks are empty),
//                     expectations over all ordered pairs, self-pairs included.
//  sample_diversity   E[d(s,s')];  label_diversity  E[d(y,y')].
//  collective_insight 3·Sc·Dmax·Da / (Sc + Dmax + Da) exactly as the reference computes it (see the .cc);
//                     with a single prediction (M = 1, where the reference raises on min([])) the
//                     prediction diversity list counts [0.0], as the reference does for K = 1.
//  hm_iou             predictions and labels replicated to L = lcm(M, K), optimal one-to-one matching
//                     maximising IoU (1 for two empty masks), mean matched IoU.
MetricTensors multiRaterMetrics(const torch::Tensor& predictions, const torch::Tensor& labels, double threshold = 0.0);

}  // namespace seqsam::metrics
