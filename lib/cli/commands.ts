// The commands `seqsam` knows, with what top-level help shows, and how to load each one. A command's module
// (and what it pulls in: the native addon, sharp, the data readers) loads only when that command runs, so
// `seqsam --help` and `seqsam info` do not pay for the others.
import type { CommandModule } from 'yargs';

export interface CommandEntry {
  name: string;
  // The yargs command string (positionals included) and the one-line description.
  command: string;
  describe: string;
  load: () => Promise<CommandModule<object, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export const commands: readonly CommandEntry[] = [
  { name: 'demo', command: 'demo', describe: 'Train SeqSAM and two baselines on a synthetic multi-rater set, evaluate them, write an HTML report', load: async () => (await import('./demo.js')).demoCommand },
  { name: 'train', command: 'train', describe: 'Train SeqSAM (or a baseline) on a dataset', load: async () => (await import('./train.js')).trainCommand },
  { name: 'eval', command: 'eval', describe: 'Evaluate a model: Dice, Dmax, GED, diversity, collective insight, HM-IoU', load: async () => (await import('./eval.js')).evalCommand },
  { name: 'reproduce', command: 'reproduce <dataset>', describe: "Train and evaluate every row of the paper's tables under its protocol; a table with the published numbers beside ours", load: async () => (await import('./reproduce.js')).reproduceCommand },
  { name: 'predict', command: 'predict <images..>', describe: 'Segment image(s) from a box or points: M masks, overlay, disagreement map, JSON', load: async () => (await import('./predict.js')).predictCommand },
  { name: 'embed', command: 'embed', describe: 'Fill the embedding cache for a dataset (the encoder runs once per image)', load: async () => (await import('./embed.js')).embedCommand },
  { name: 'convert', command: 'convert <input> <output>', describe: 'Convert a checkpoint (.pth or safetensors, official or Hugging Face names) to safetensors', load: async () => (await import('./convert.js')).convertCommand },
  { name: 'info', command: 'info', describe: 'Show package and LibTorch versions, devices and the loaded native binary', load: async () => (await import('./info.js')).infoCommand },
  { name: 'serve', command: 'serve', describe: 'Serve an HTTP API (embed once, then predict M masks from a box or points) and an interactive page', load: async () => (await import('./serve.js')).serveCommand },
  { name: 'bench', command: 'bench', describe: 'Measure encoder, decoder, cost + matching and training-step speed', load: async () => (await import('./bench.js')).benchCommand },
];
