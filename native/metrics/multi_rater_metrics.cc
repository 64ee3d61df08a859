#include "metrics/multi_rater_metrics.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/errors.h"
#include "seqsam/hungarian.h"

namespace seqsam::metrics {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::string shapeOf(const torch::Tensor& t) { return "[" + c10::Join(", ", t.sizes()) + "]"; }

// Pairwise intersections of flattened binary masks, as float64 counts: (n, A, P) x (n, B, P) -> (n, A, B).
// The products are of 0/1 values, so float32 sums are exact below 2^24 pixels (TF32 keeps 0/1 exact too);
// larger masks use float64.
torch::Tensor intersections(const torch::Tensor& a, const torch::Tensor& b) {
  const auto type = a.size(-1) < (int64_t{1} << 24) ? torch::kFloat : torch::kDouble;
  return torch::bmm(a.to(type), b.to(type).transpose(1, 2)).to(torch::kDouble);
}

// Dice 2|A∩B| / (|A| + |B|) with IEEE semantics: two empty masks give 0/0 = NaN.
torch::Tensor diceOf(const torch::Tensor& inter, const torch::Tensor& sizeA, const torch::Tensor& sizeB) {
  return (2.0 * inter) / (sizeA.unsqueeze(2) + sizeB.unsqueeze(1));
}

// IoU |A∩B| / |A∪B| with `bothEmpty` where the union is empty.
torch::Tensor iouOf(const torch::Tensor& inter, const torch::Tensor& sizeA, const torch::Tensor& sizeB, double bothEmpty) {
  torch::Tensor uni = sizeA.unsqueeze(2) + sizeB.unsqueeze(1) - inter;
  return torch::where(uni > 0, inter / uni.clamp_min(1.0), torch::full({}, bothEmpty, inter.options()));
}

// The reference's diversity range: Python's min() and max() over the list of 1 − Dice for the ordered
// pairs (0,1), (0,2), …, (1,0), … (i ≠ j). Python compares with `<`/`>`, which are false against NaN: a NaN
// as the list's first element is returned, a NaN later on is skipped. An empty list (a single mask) counts
// as [0.0], as the reference does for the labels (for the predictions it raises; see the .h).
std::pair<torch::Tensor, torch::Tensor> pythonMinMaxOffDiagonal(const torch::Tensor& d) {
  const int64_t n = d.size(0);
  const int64_t c = d.size(1);
  if (c < 2) {
    torch::Tensor zero = torch::zeros({n}, d.options());
    return {zero, zero};
  }
  torch::Tensor offDiagonal = torch::eye(c, d.options()).eq(0).unsqueeze(0);
  torch::Tensor valid = offDiagonal & torch::isnan(d).logical_not();
  torch::Tensor lo = torch::where(valid, d, torch::full({}, kInf, d.options())).amin({1, 2});
  torch::Tensor hi = torch::where(valid, d, torch::full({}, -kInf, d.options())).amax({1, 2});
  torch::Tensor firstIsNaN = torch::isnan(d.select(1, 0).select(1, 1));
  torch::Tensor nan = torch::full({}, kNaN, d.options());
  return {torch::where(firstIsNaN, nan, lo), torch::where(firstIsNaN, nan, hi)};
}

// Hungarian-matched IoU per image from the (n, M, K) IoU matrices: on a CUDA device through the batched
// GPU assignment (no host round trip), elsewhere problem by problem on the CPU. Row r of the lcm(M, K)-sized
// problem is prediction r / (lcm / M), column c is label c / (lcm / K).
torch::Tensor hungarianMatchedIou(const torch::Tensor& iou) {
  if (iou.is_cuda()) {
    const int64_t m = iou.size(1), k = iou.size(2), l = std::lcm(m, k);
    torch::Tensor expanded = iou.to(torch::kDouble).repeat_interleave(l / m, 1).repeat_interleave(l / k, 2);  // (n, l, l)
    torch::Tensor columns = seq::batchedAssignment(1.0 - expanded);                                           // (n, l)
    return expanded.gather(2, columns.unsqueeze(-1)).squeeze(-1).sum(-1) / static_cast<double>(l);
  }
  torch::Tensor cpu = iou.to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t n = cpu.size(0);
  const int64_t m = cpu.size(1);
  const int64_t k = cpu.size(2);
  const int64_t l = std::lcm(m, k);
  const int64_t repeatM = l / m;
  const int64_t repeatK = l / k;
  torch::Tensor out = torch::empty({n}, cpu.options());
  auto result = out.accessor<double, 1>();
  const double* data = cpu.data_ptr<double>();
  std::vector<double> cost(static_cast<size_t>(l * l));
  for (int64_t b = 0; b < n; ++b) {
    const double* matrix = data + b * m * k;
    // Row r is prediction r / repeatM, column c is label c / repeatK.
    for (int64_t r = 0; r < l; ++r)
      for (int64_t c = 0; c < l; ++c) cost[r * l + c] = 1.0 - matrix[(r / repeatM) * k + c / repeatK];
    std::vector<int64_t> columns = seq::solveAssignment(cost.data(), l, l);
    double total = 0.0;
    for (int64_t r = 0; r < l; ++r) total += matrix[(r / repeatM) * k + columns[r] / repeatK];
    result[b] = total / static_cast<double>(l);
  }
  return out;
}

// All metrics for a chunk of images: predictions (n, M, P) bool, labels (n, K, P) bool, same device.
std::vector<torch::Tensor> chunkMetrics(const torch::Tensor& pred, const torch::Tensor& lab) {
  const int64_t m = pred.size(1);
  const auto f64 = pred.options().dtype(torch::kDouble);

  torch::Tensor sizeP = pred.sum(-1).to(torch::kDouble);  // (n, M)
  torch::Tensor sizeL = lab.sum(-1).to(torch::kDouble);   // (n, K)
  torch::Tensor interPL = intersections(pred, lab);       // (n, M, K)
  torch::Tensor interPP = intersections(pred, pred);      // (n, M, M)
  torch::Tensor interLL = intersections(lab, lab);        // (n, K, K)

  // Majority vote: round(mean) with half to even, so a pixel is on when more than half the predictions are.
  torch::Tensor votes = pred.sum(1);                              // (n, P) int64
  torch::Tensor majority = (votes * 2 > m).unsqueeze(1);          // (n, 1, P)
  torch::Tensor sizeV = majority.sum(-1).to(torch::kDouble);      // (n, 1)
  torch::Tensor interVL = intersections(majority, lab);           // (n, 1, K)
  torch::Tensor diceVL = diceOf(interVL, sizeV, sizeL).squeeze(1);  // (n, K), NaN where both are empty

  torch::Tensor zero = torch::zeros({}, f64);
  torch::Tensor nan = torch::full({}, kNaN, f64);

  // dice: two empty masks count 0.
  torch::Tensor dice = torch::where(torch::isnan(diceVL), zero, diceVL).mean(-1);

  // dice_nod: blank labels are skipped (their Dice is well defined: the label is not empty).
  torch::Tensor nonBlank = sizeL > 0;
  torch::Tensor countNonBlank = nonBlank.sum(-1).to(torch::kDouble);
  torch::Tensor diceNod = torch::where(nonBlank, diceVL, zero).sum(-1) / countNonBlank.clamp_min(1.0);
  diceNod = torch::where(countNonBlank > 0, diceNod, nan);

  // dice_max: the reference's plain Dice, 0/0 = NaN propagating through max and mean.
  torch::Tensor dicePL = diceOf(interPL, sizeP, sizeL);  // (n, M, K)
  torch::Tensor diceMax = dicePL.amax({2}).mean(-1);

  // GED with d = 1 − IoU, 0 for two empty masks (and 1 when exactly one is empty: the IoU is 0).
  torch::Tensor dPL = 1.0 - iouOf(interPL, sizeP, sizeL, 1.0);
  torch::Tensor dPP = 1.0 - iouOf(interPP, sizeP, sizeP, 1.0);
  torch::Tensor dLL = 1.0 - iouOf(interLL, sizeL, sizeL, 1.0);
  torch::Tensor sampleDiversity = dPP.mean({1, 2});
  torch::Tensor labelDiversity = dLL.mean({1, 2});
  torch::Tensor ged = 2.0 * dPL.mean({1, 2}) - sampleDiversity - labelDiversity;

  // Collective insight, as the reference computes it:
  //  Sc   = TP / (TP + FN) of the union of the predictions against the union of the labels (NaN when
  //         every label is blank);
  //  Dmax = dice_max above;
  //  Da   = 1 − (|min Dp − min Dl| + |max Dp − max Dl|) / 2, with Dp, Dl the lists of 1 − Dice over the
  //         ordered pairs of distinct predictions / labels (Python min/max semantics on NaN, see above);
  //  CI   = 3·Sc·Dmax·Da / (Sc + Dmax + Da). No epsilon anywhere: 0/0 gives NaN.
  torch::Tensor predUnion = votes > 0;                  // (n, P)
  torch::Tensor labelUnion = lab.any(1);                // (n, P)
  torch::Tensor truePositives = (predUnion & labelUnion).sum(-1).to(torch::kDouble);
  torch::Tensor labelUnionSize = labelUnion.sum(-1).to(torch::kDouble);
  torch::Tensor sensitivity = truePositives / labelUnionSize;
  auto [predMin, predMax] = pythonMinMaxOffDiagonal(1.0 - diceOf(interPP, sizeP, sizeP));
  auto [labelMin, labelMax] = pythonMinMaxOffDiagonal(1.0 - diceOf(interLL, sizeL, sizeL));
  torch::Tensor agreement = 1.0 - ((predMin - labelMin).abs() + (predMax - labelMax).abs()) / 2.0;
  torch::Tensor insight = (3.0 * sensitivity * diceMax * agreement) / (sensitivity + diceMax + agreement);

  // Hungarian-matched IoU (two empty masks: IoU 1).
  torch::Tensor hmIou = hungarianMatchedIou(iouOf(interPL, sizeP, sizeL, 1.0)).to(pred.device());

  return {dice, diceMax, diceNod, ged, sampleDiversity, labelDiversity, insight, hmIou};
}

}  // namespace

void checkShapes(const torch::Tensor& predictions, const torch::Tensor& labels) {
  require(predictions.dim() == 4, code::kShape, "metrics: predictions must be (N, M, H, W), got " + shapeOf(predictions));
  require(labels.dim() == 4, code::kShape, "metrics: labels must be (N, K, H, W), got " + shapeOf(labels));
  require(predictions.size(0) == labels.size(0) && predictions.size(2) == labels.size(2) && predictions.size(3) == labels.size(3),
          code::kShape,
          "metrics: predictions " + shapeOf(predictions) + " and labels " + shapeOf(labels) + " disagree on N, H or W");
  require(predictions.size(1) >= 1, code::kShape, "metrics: predictions " + shapeOf(predictions) + " hold no mask (M = 0)");
  require(labels.size(1) >= 1, code::kShape, "metrics: labels " + shapeOf(labels) + " hold no mask (K = 0)");
  // HM-IoU solves an lcm(M, K)-sized assignment per image, cubic in that size: coprime M and K near 60
  // would take most of a minute per image. 1024 covers M up to 64 against up to 16 raters.
  const int64_t m = predictions.size(1), k = labels.size(1), l = std::lcm(m, k);
  require(l <= kMaxMatchedSize, code::kArgument,
          "metrics: hm_iou matches lcm(M, K) = lcm(" + std::to_string(m) + ", " + std::to_string(k) + ") = " + std::to_string(l) +
              " copies, more than the limit of " + std::to_string(kMaxMatchedSize) + "; use M and K with a smaller common multiple");
}

torch::Tensor binarize(const torch::Tensor& predictions, double threshold) {
  if (predictions.scalar_type() == torch::kBool) return predictions;
  if (torch::isFloatingType(predictions.scalar_type())) return predictions.gt(threshold);
  return predictions.ne(0);
}

MetricTensors multiRaterMetrics(const torch::Tensor& predictions, const torch::Tensor& labels, double threshold) {
  checkShapes(predictions, labels);
  torch::NoGradGuard noGrad;
  const int64_t n = predictions.size(0);
  const int64_t m = predictions.size(1);
  const int64_t k = labels.size(1);
  const int64_t pixels = predictions.size(2) * predictions.size(3);

  torch::Tensor pred = binarize(predictions, threshold).flatten(2);            // (N, M, P) bool
  torch::Tensor lab = labels.to(predictions.device()).ne(0).flatten(2);        // (N, K, P) bool

  // Images are processed in chunks that keep the float copies of the masks near 2^26 values.
  const int64_t perImage = std::max<int64_t>(1, (m + k + 1) * pixels);
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 26) / perImage);

  std::vector<std::vector<torch::Tensor>> parts;
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t end = std::min(n, start + chunk);
    parts.push_back(chunkMetrics(pred.slice(0, start, end), lab.slice(0, start, end)));
  }
  static const char* names[] = {"dice", "dice_max", "dice_nod", "ged", "sample_diversity", "label_diversity", "collective_insight", "hm_iou"};
  MetricTensors out;
  for (size_t i = 0; i < std::size(names); ++i) {
    std::vector<torch::Tensor> pieces;
    for (const auto& part : parts) pieces.push_back(part[i]);
    out.emplace_back(names[i], pieces.empty() ? torch::empty({0}, predictions.options().dtype(torch::kDouble)) : torch::cat(pieces));
  }
  return out;
}

}  // namespace seqsam::metrics
