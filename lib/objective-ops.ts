// The training objectives on logits and labels the caller chooses: for checking a loss by hand and for
// tests of the reference-protocol options (row-wise baseline Dice, pick-indexed blank masking).
import { nativeSync } from './errors.js';
import { addon, type NativeTensor } from './native.js';
import { Tensor } from './tensor.js';

interface NativeObjectiveOps {
  setLoss(logits: NativeTensor, labels: NativeTensor, labelMask: NativeTensor | null, picks: NativeTensor, options: object): { loss: number; cost: NativeTensor; assignment: NativeTensor };
  winnerLoss(logits: NativeTensor, labels: NativeTensor, targets: NativeTensor, options: object): { loss: number; winner: NativeTensor };
}

const ops = () => addon().ops as unknown as NativeObjectiveOps;

export interface SetLossOptions {
  /** 'hungarian' (default) or 'fixed' (pick r with label r). */
  matching?: 'hungarian' | 'fixed';
  /** Over the batch: 'sum' (default) or 'mean'. */
  reduction?: 'sum' | 'mean';
  /** Which label mask weighs a matched pair: the matched label's (default) or that of the pick's position r. */
  blankMasking?: 'matched-label' | 'pick-index';
}

/** SeqSAM's matched set loss of the picked steps `picks` (B, P) of `logits` (B, M, H, W) against labels (B, K, H, W). */
export function setLoss(logits: Tensor, labels: Tensor, labelMask: Tensor | null, picks: Tensor, options: SetLossOptions = {}): { loss: number; cost: Tensor; assignment: Tensor } {
  const out = nativeSync(() => ops().setLoss(logits.handle, labels.handle, labelMask?.handle ?? null, picks.handle, options));
  return { loss: out.loss, cost: new Tensor(out.cost), assignment: new Tensor(out.assignment) };
}

export interface WinnerLossOptions {
  /** Over the batch: 'mean' (default) or 'sum'. */
  reduction?: 'sum' | 'mean';
  /** 'whole-mask' (default) or 'row-wise' (a Dice per image row, averaged over rows). */
  baselineDice?: 'whole-mask' | 'row-wise';
}

/** The baselines' loss: each head of `logits` (B, heads, H, W) against label `targets[b]` of labels (B, K, H, W), minimum over heads. */
export function winnerLoss(logits: Tensor, labels: Tensor, targets: Tensor, options: WinnerLossOptions = {}): { loss: number; winner: Tensor } {
  const out = nativeSync(() => ops().winnerLoss(logits.handle, labels.handle, targets.handle, options));
  return { loss: out.loss, winner: new Tensor(out.winner) };
}
