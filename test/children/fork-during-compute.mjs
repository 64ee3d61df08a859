// Spawns child processes (each a fork of this process) while native encoder passes run their threaded
// matmuls, and exits 0 once all have finished. Without a guard, OpenBLAS's fork handler can strand a matmul
// and the process hangs: the parent test kills it after a timeout.
//   node fork-during-compute.mjs <passes>   → JSON { passes, spawns } on stdout
import { spawn, spawnSync } from 'node:child_process';

import { Sam, tinyConfig } from '../../dist/lib/index.js';

const passes = Number(process.argv[2] ?? 6);
// Large enough that every block's matmuls go through OpenBLAS's threads (1024 tokens × 256 channels).
const config = {
  ...tinyConfig,
  image_size: 512,
  encoder: { ...tinyConfig.encoder, embed_dim: 256, depth: 2, num_heads: 8, window_size: 14, global_attn_indexes: [1] },
};
const sam = await Sam.load({ config, seed: 1 });
const size = config.image_size;
const image = { data: new Uint8Array(size * size * 3).fill(90), width: size, height: size, channels: 3 };

let running = true;
let spawns = 0;
// Forks from the JS thread, synchronously and not, while the encoder passes run on worker threads.
const forker = setInterval(() => {
  if (!running) return;
  spawnSync(process.execPath, ['-e', '0']);
  spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  spawns += 2;
}, 5);
for (let i = 0; i < passes; i++) (await sam.embed(image)).dispose();
running = false;
clearInterval(forker);
sam.dispose();
console.log(JSON.stringify({ passes, spawns }));
