// `seqsam embed`: runs the frozen encoder over a dataset once and fills the on-disk embedding cache that
// `train` and `eval` read (keyed by the encoder weights and the image bytes).
import type { Argv, CommandModule } from 'yargs';

import { joinRankFromEnv, launchRanksIfAsked, leaveRank, nprocOption } from '../distributed/cli-ranks.js';
import { broadcastWeights } from '../distributed/model-broadcast.js';
import { allReduceSum } from '../distributed/process-group.js';
import { strideShard } from '../distributed/shard.js';
import { throwIfAborted } from '../errors.js';
import { EmbeddingCache } from '../train/embedding-cache.js';
import { datasetSpecHelp, openDataset } from './dataset-spec.js';
import { protocolOption, type ProtocolFlag } from './protocol-flag.js';
import { interruptSignal } from './interrupt.js';
import { withModelOptions, type ModelArgs } from './model-flags.js';
import { loadModel } from './model-options.js';
import { createProgressReport, parseProgressEvery, progressOption, type ProgressMode } from './progress-report.js';

interface EmbedArgs extends ModelArgs {
  data: string;
  cacheDir: string;
  progress: ProgressMode | boolean;
  progressEvery: string;
  protocol?: ProtocolFlag;
  nproc: number;
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
      .option('protocol', { ...protocolOption, describe: 'read the images as --protocol reference does in train / eval (LIDC x255 intensity, QUBIQ preprocessing)' })
      .option('progress-every', { type: 'string', default: '30s', describe: 'progress lines (not on a terminal): every N steps (50) or seconds (30s)' })
      .option('nproc', nprocOption)
      .example('$0 embed --data lidc:lidc.pickle --preset vit_b --checkpoint medsam_vit_b.pth --cache-dir cache/lidc', '') as unknown as Argv<EmbedArgs>,
  handler: async (args) => {
    if (await launchRanksIfAsked(args)) return;
    const group = await joinRankFromEnv(args); // started as a rank: embed every worldSize-th image
    const dataset = await openDataset(args.data, { protocol: args.protocol });
    const model = await loadModel(args);
    if (group) await broadcastWeights(model);
    const mine = group ? strideShard(dataset.length, group.rank, group.worldSize) : Array.from({ length: dataset.length }, (_, i) => i);
    const cache = new EmbeddingCache({ dir: args.cacheDir, maxBytes: 0 });
    const interrupt = interruptSignal('embedding');
    const bar = createProgressReport({ mode: group && group.rank !== 0 ? false : args.progress, every: parseProgressEvery(args.progressEvery) });
    const started = performance.now();
    try {
      for (const [n, i] of mine.entries()) {
        throwIfAborted(interrupt.signal, 'embedding');
        await cache.get(model, await dataset.get(i));
        const seconds = (performance.now() - started) / 1000;
        bar.update({ step: n + 1, totalSteps: mine.length, imagesPerSecond: (n + 1) / seconds, etaSeconds: (seconds / (n + 1)) * (mine.length - n - 1) });
      }
      bar.stop();
      const s = cache.stats;
      const [computed, diskHits] = group ? await allReduceSum(Float64Array.of(s.computed, s.diskHits)) : [s.computed, s.diskHits];
      if (!group || group.rank === 0) process.stdout.write(`${dataset.length} images: ${computed} embedded, ${diskHits} already cached → ${args.cacheDir}\n`);
      await leaveRank(group, true);
    } finally {
      await leaveRank(group, false);
      bar.stop();
      interrupt.release();
      cache.dispose();
      model.dispose();
    }
  },
};
