// `seqsam embed`: runs the frozen encoder over a dataset once and fills the on-disk embedding cache that
// `train` and `eval` read (keyed by the encoder weights and the image bytes).
import type { Argv, CommandModule } from 'yargs';

import { throwIfAborted } from '../errors.js';
import { EmbeddingCache } from '../train/embedding-cache.js';
import { datasetSpecHelp, openDataset } from './dataset-spec.js';
import { interruptSignal } from './interrupt.js';
import { withModelOptions, type ModelArgs } from './model-flags.js';
import { loadModel } from './model-options.js';
import { createProgressReport, parseProgressEvery, progressOption, type ProgressMode } from './progress-report.js';

interface EmbedArgs extends ModelArgs {
  data: string;
  cacheDir: string;
  progress: ProgressMode | boolean;
  progressEvery: string;
}

export const embedCommand: CommandModule<object, EmbedArgs> = {
  command: 'embed',
  describe: 'Fill the embedding cache for a dataset (the encoder runs once per image)',
  builder: (y) =>
    // The encoder alone runs: no objective to choose.
    withModelOptions(y, ['preset', 'config', 'checkpoint', 'device', 'seed', 'threads'])
      .option('data', { type: 'string', demandOption: true, describe: datasetSpecHelp })
      .option('cache-dir', { type: 'string', demandOption: true, describe: 'cache folder (pass the same to train / eval)' })
      .option('progress', progressOption)
      .option('progress-every', { type: 'string', default: '30s', describe: 'progress lines (not on a terminal): every N steps (50) or seconds (30s)' })
      .example('$0 embed --data lidc:lidc.pickle --preset vit_b --checkpoint medsam_vit_b.pth --cache-dir cache/lidc', '') as unknown as Argv<EmbedArgs>,
  handler: async (args) => {
    const dataset = await openDataset(args.data);
    const model = await loadModel(args);
    const cache = new EmbeddingCache({ dir: args.cacheDir, maxBytes: 0 });
    const interrupt = interruptSignal('embedding');
    const bar = createProgressReport({ mode: args.progress, every: parseProgressEvery(args.progressEvery) });
    const started = performance.now();
    try {
      for (let i = 0; i < dataset.length; i++) {
        throwIfAborted(interrupt.signal, 'embedding');
        await cache.get(model, await dataset.get(i));
        const seconds = (performance.now() - started) / 1000;
        bar.update({ step: i + 1, totalSteps: dataset.length, imagesPerSecond: (i + 1) / seconds, etaSeconds: (seconds / (i + 1)) * (dataset.length - i - 1) });
      }
      bar.stop();
      const s = cache.stats;
      process.stdout.write(`${dataset.length} images: ${s.computed} embedded, ${s.diskHits} already cached → ${args.cacheDir}\n`);
    } finally {
      bar.stop();
      interrupt.release();
      cache.dispose();
      model.dispose();
    }
  },
};
