// Rewrites one safetensors file forever, alternating two contents (every value 1, then every value 2),
// printing a line after each save: kill it anywhere and the file must hold one whole content.
//   node save-loop.mjs <path>
import { Tensor, checkpoint } from '../../dist/lib/index.js';

// `node --test test/` also runs every file under test/, without arguments: nothing to do then.
if (process.argv.length < 3) process.exit(0);

const [path] = process.argv.slice(2);
const n = 8 * 1024 * 1024; // 32 MB per save: long enough to be killed mid-write
const contents = [1, 2].map((v) => Tensor.from(new Float32Array(n).fill(v), [n]));
for (let i = 0; ; i++) {
  await checkpoint.writeSafetensors(path, { values: contents[i % 2] }, { round: String(i) });
  process.stdout.write(`saved ${i}\n`);
}
