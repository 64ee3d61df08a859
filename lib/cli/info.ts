// `seqsam info`: versions, devices, threads, and which binary was loaded.
import type { CommandModule } from 'yargs';

import { info } from '../runtime.js';

export const infoCommand: CommandModule<object, { json: boolean }> = {
  command: 'info',
  describe: 'Show package and LibTorch versions, devices and the loaded native binary',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON' }),
  handler: (args) => {
    const i = info();
    if (args.json) {
      const { parallelInfo: _omit, ...rest } = i;
      process.stdout.write(`${JSON.stringify(rest, null, 2)}\n`);
      return;
    }
    const cuda = i.cuda ? `${i.cudaDevices} device(s)` : i.builtWithCuda ? 'built with CUDA, no device' : 'not in this build';
    const rows: Array<[string, string]> = [
      ['seqsam', i.version],
      ['LibTorch', i.torchVersion],
      ['Node.js', `${i.node} (${i.platform})`],
      ['binary', i.binary],
      ['CPU threads', `torch ${i.threads} intra-op / ${i.interopThreads} inter-op, BLAS ${i.blasThreads < 0 ? 'n/a' : i.blasThreads}, ${i.hardwareThreads} hardware`],
      ['CUDA', cuda],
      ['CUDA graphs', i.cudaGraphs ? (process.env.SEQSAM_CUDA_GRAPHS === '0' ? 'in this build, off (SEQSAM_CUDA_GRAPHS=0)' : 'in this build') : 'not in this build'],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) process.stdout.write(`${k.padEnd(width)}  ${v}\n`);
  },
};
