// A seeded tiny training run that checkpoints every step and resumes from its last checkpoint:
// run it, kill it at any point, run it again, and it finishes where an uninterrupted run would.
//   node train-resumable.mjs <checkpointDir> <final.safetensors>
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { SeqSam, data, setThreads, tinyConfig, train } from '../../dist/lib/index.js';

// `node --test test/` also runs every file under test/, without arguments: nothing to do then.
if (process.argv.length < 3) process.exit(0);

const [dir, finalPath] = process.argv.slice(2);
setThreads(1); // one thread: bit-identical arithmetic from run to run
const last = join(dir, 'last.safetensors');
const resume = existsSync(last) ? last : undefined;
const model = await SeqSam.load({ config: tinyConfig, seed: 3 });
const dataset = data.datasets.synthetic({ count: 12, size: 64, seed: 5 });
const result = await train.train({
  model, dataset, epochs: 2, batchSize: 2, numMasks: 4, seed: 9, evalEvery: 0,
  schedule: { type: 'constant', lr: 1e-3 }, checkpointDir: dir, saveEvery: 1, resume, progressBar: false,
  // The parent kills this process at chosen steps: it needs to know where training is.
  onProgress: (event) => process.stdout.write(`step ${event.step}\n`),
});
await model.save(finalPath);
process.stdout.write(JSON.stringify({ resumed: Boolean(resume), steps: result.steps }) + '\n');
model.dispose();
