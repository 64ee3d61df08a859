// `seqsam demo`: the main job on the embedded default — no download, no flags needed.
import type { Argv, CommandModule } from 'yargs';

import { runDemo } from '../demo/run-demo.js';
import { interruptSignal } from './interrupt.js';

interface DemoArgs {
  out: string;
  epochs: number;
  pretrainEpochs: number;
  count: number;
  seed: number;
  quick: boolean;
}

export const demoCommand: CommandModule<object, DemoArgs> = {
  command: 'demo',
  describe: 'Train SeqSAM and two baselines on a synthetic multi-rater set, evaluate them, write an HTML report',
  builder: (y) =>
    y
      .option('out', { type: 'string', default: 'seqsam-demo', describe: 'output folder (report.html, curves, montages, checkpoints)' })
      .option('epochs', { type: 'number', default: 20, describe: 'training epochs per model' })
      .option('pretrain-epochs', { type: 'number', default: 8, describe: "single-mask pretraining of the small SAM before the three models are fine-tuned from it (standing in for SAM's pretraining; 0: none)" })
      .option('count', { type: 'number', default: 160, describe: 'synthetic images' })
      .option('seed', { type: 'number', default: 0, describe: 'seed of the data, the split (0.75/0.1/0.15 by patient), initialisation and training' })
      .option('quick', { type: 'boolean', default: false, describe: 'a smoke run: 32 images, 1 pretraining epoch, 2 epochs' })
      .example('$0 demo', 'about two minutes on 2 CPU cores; open seqsam-demo/report.html')
      .example('$0 demo --out /tmp/run --epochs 40', 'a longer run elsewhere') as unknown as Argv<DemoArgs>,
  handler: async (args) => {
    const interrupt = interruptSignal('the demo');
    try {
      const result = await runDemo({
        out: args.out,
        epochs: args.quick ? 2 : args.epochs,
        pretrainEpochs: args.quick ? 1 : args.pretrainEpochs,
        count: args.quick ? 32 : args.count,
        montages: args.quick ? 2 : 6,
        seed: args.seed,
        signal: interrupt.signal,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`report: ${result.report} (${result.seconds.toFixed(0)} s)\n`);
    } finally {
      interrupt.release();
    }
  },
};
