// The published numbers `seqsam reproduce` prints beside its own, each with the table it comes from
// (SeqSAM, arXiv 2503.09797, ISBI 2025). Only numbers the project's copy of the paper states are here;
// every other cell of the table reads "not available here" rather than a guess.

/** One published cell: a value on the paper's scale (Dice in %, GED as is) and where it is printed. */
export interface PublishedNumber {
  value: number;
  /** "Table 1A", "Table 1B" (the paper's numbering). */
  source: string;
  /** Set when the paper's figure is approximate or its definition is not spelled out. */
  note?: string;
}

/** Published numbers of one row: Dice, a second Dice figure (shown beside our Dmax), GED. */
export interface PublishedRow {
  dice?: PublishedNumber;
  diceSecond?: PublishedNumber;
  ged?: PublishedNumber;
  /** What the paper says about the row where it gives no number. */
  remark?: string;
}

const secondFigure = 'the paper gives two Dice figures per model; the second is shown beside our Dmax';

/** By dataset, then by row id (see rows.ts). */
export const publishedNumbers: Readonly<Record<string, Readonly<Record<string, PublishedRow>>>> = {
  lidc: {
    seqsam: {
      dice: { value: 83.8, source: 'Table 1A' },
      diceSecond: { value: 90.0, source: 'Table 1A', note: secondFigure },
      ged: { value: 0.227, source: 'Table 1A' },
    },
    'seqsam-m10': {
      dice: { value: 83.5, source: 'Table 1A' },
      diceSecond: { value: 89.4, source: 'Table 1A', note: secondFigure },
      ged: { value: 0.234, source: 'Table 1A', note: 'about 0.234' },
    },
    'sam-mcl': {
      dice: { value: 82.4, source: 'Table 1A' },
      ged: { value: 0.245, source: 'Table 1A' },
    },
    // The project's copy of the paper does not name Table 1B's dataset; it is listed with LIDC here.
    'ablation-base': { dice: { value: 83.0, source: 'Table 1B', note: 'the full model of the ablation table' } },
    'ablation-first-k': { dice: { value: 78.7, source: 'Table 1B', note: '"First K" sampling' } },
    'ablation-stop-gradient': { remark: 'Table 1B: lower Davg than the full model (number not available here)' },
  },
  qubiq: {},
  synthetic: {},
};

/** The paper's number for a row's metric, or undefined where it is not available here. */
export function publishedFor(dataset: string, row: string): PublishedRow {
  return publishedNumbers[dataset]?.[row] ?? {};
}
