// SAM-MCL fine-tunes SAM's three multi-mask heads winner-takes-all. In the real SAM all three heads come
// out of pretraining predicting plausible masks; the demo's pretraining trains only the single-mask head
// (token 0), so the other three are given its weights, each with its own small perturbation: they start
// as good as head 0 and different enough that each wins some images, as pretrained heads do.
import { mulberry32 } from '../data/synthetic.js';
import { Tensor, type NamedTensors } from '../tensor.js';

const tokens = 'mask_decoder.mask_tokens.weight';
const mlpPrefix = (head: number) => `mask_decoder.output_hypernetworks_mlps.${head}.`;

/**
 * New tensors for the multi-mask heads (mask tokens 1..3 and hypernetwork MLPs 1..3) copied from head 0
 * plus Gaussian noise of `spread` times each tensor's standard deviation; the caller owns (disposes) them.
 */
export async function headsFromSingleMask(weights: NamedTensors, seed: number, spread = 0.05): Promise<NamedTensors> {
  const random = mulberry32(seed);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const perturbed = (values: Float32Array): Float32Array => {
    let sum = 0;
    let squares = 0;
    for (const v of values) {
      sum += v;
      squares += v * v;
    }
    const std = Math.sqrt(Math.max(0, squares / values.length - (sum / values.length) ** 2));
    return values.map((v) => v + spread * std * gaussian());
  };
  const out: NamedTensors = {};
  const tokenTable = weights[tokens]!;
  const [count, width] = tokenTable.shape as [number, number];
  const table = Float32Array.from(await tokenTable.toTypedArray() as Float32Array);
  const first = table.slice(0, width);
  for (let head = 1; head < count; head++) table.set(perturbed(first), head * width);
  out[tokens] = Tensor.from(table, [count, width]);
  for (const [name, tensor] of Object.entries(weights)) {
    if (!name.startsWith(mlpPrefix(0))) continue;
    const values = Float32Array.from(await tensor.toTypedArray() as Float32Array);
    for (let head = 1; head < count; head++) out[mlpPrefix(head) + name.slice(mlpPrefix(0).length)] = Tensor.from(perturbed(values), tensor.shape);
  }
  return out;
}
