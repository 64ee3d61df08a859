#!/usr/bin/env node
// binding.gyp's side of CMakeLists.txt's torch.distributed check: c10d's headers (with LibTorch) and Gloo's
// (Debian: libgloo-dev) present turn SEQSAM_WITH_C10D on; otherwise the addon builds without it.
//   node scripts/c10d-config.mjs defines | include_dirs
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function torchIncludeDirs() {
  try {
    const info = JSON.parse(execFileSync('node', [join(root, 'scripts', 'torch-config.mjs'), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    return info.includeDirs ?? [];
  } catch {
    return [];
  }
}

const searched = [...torchIncludeDirs(), '/usr/include', '/usr/local/include'];
const c10d = searched.find((d) => existsSync(join(d, 'torch/csrc/distributed/c10d/ProcessGroupGloo.hpp')));
const gloo = searched.find((d) => existsSync(join(d, 'gloo/context.h')));
const on = Boolean(c10d && gloo);

const field = process.argv[2];
if (field === 'defines') process.stdout.write(on ? 'SEQSAM_WITH_C10D=1 USE_C10D_GLOO\n' : 'SEQSAM_WITH_C10D=0\n');
else if (field === 'include_dirs') process.stdout.write(on && !['/usr/include', '/usr/local/include'].includes(gloo) ? `${gloo}\n` : '\n');  // the compiler's own dirs stay implicit
else {
  process.stderr.write('usage: c10d-config.mjs defines | include_dirs\n');
  process.exit(2);
}
