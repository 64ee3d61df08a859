// `seqsam convert`: a checkpoint in any supported form (torch.save .pth, safetensors with official or
// Hugging Face names) to safetensors. With an architecture (--preset / --config, or one the file
// records) the weights go through the model, so the output is validated and carries official names;
// without one the tensors are copied as they are. Either way every input tensor reaches the output, or
// nothing is written.
import type { Argv, CommandModule } from 'yargs';

import { readCheckpoint, writeSafetensors } from '../checkpoint/index.js';
import { SeqsamError } from '../errors.js';
import { disposeAll } from '../tensor.js';
import { Sam } from '../model/sam.js';
import { checkNothingDropped, tensorNames } from './convert-completeness.js';
import { withModelOptions, type ModelArgs } from './model-flags.js';
import { architecture, checkpointMetadata, loadModel } from './model-options.js';

interface ConvertArgs extends ModelArgs {
  input: string;
  output: string;
  raw: boolean;
}

const hasCell = (names: readonly string[] | null) => Boolean(names?.some((n) => /^(sam\.)?cell\./.test(n)));

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <input> <output>',
  describe: 'Convert a checkpoint (.pth or safetensors, official or Hugging Face names) to safetensors',
  builder: (y) =>
    withModelOptions(y, ['model', 'preset', 'config'])
      .positional('input', { type: 'string', demandOption: true, describe: 'checkpoint to read: torch.save .pth, or safetensors' })
      .positional('output', { type: 'string', demandOption: true, describe: 'safetensors file to write (*.safetensors)' })
      .option('raw', { type: 'boolean', default: false, describe: 'copy the tensors without checking them against an architecture' })
      .example('$0 convert sam_vit_b_01ec64.pth sam_vit_b.safetensors --preset vit_b', 'validated, official names')
      .example('$0 convert run/best.safetensors seqsam.safetensors --config tiny --model seqsam', 'a SeqSAM checkpoint: SAM, cell and optimizer state') as unknown as Argv<ConvertArgs>,
  handler: async (args) => {
    if (!args.output.endsWith('.safetensors')) throw new SeqsamError('ERR_ARGUMENT', `${args.output}: the output is written as safetensors; name it *.safetensors`);
    const metadata = await checkpointMetadata(args.input);
    const inputNames = await tensorNames(args.input);
    const known = args.preset || args.config || metadata.config;
    if (args.raw || !known) {
      if (!args.raw) throw new SeqsamError('ERR_ARGUMENT', `${args.input}: give --preset or --config to validate the weights, or --raw to copy them unchecked`);
      const { tensors } = await readCheckpoint(args.input);
      try {
        await writeSafetensors(args.output, tensors, metadata);
      } finally {
        disposeAll(tensors);
      }
      process.stdout.write(`${args.input} → ${args.output} (${Object.keys(tensors).length} tensors, unchecked)\n`);
      return;
    }
    // A SeqSAM checkpoint (it says so, holds a cell, or --model asks for one) keeps its cell and training
    // setup; SAM / MedSAM weights stay plain SAM.
    const seqsam = metadata.model === 'seqsam' || hasCell(inputNames) || args.model !== undefined;
    const model = seqsam
      ? await loadModel({ ...args, device: 'cpu', seed: 0, checkpoint: args.input })
      : await Sam.load({ ...(await architecture(args, metadata)), device: 'cpu', checkpoint: args.input });
    try {
      await model.save(args.output);
    } finally {
      model.dispose();
    }
    await checkNothingDropped(args.input, inputNames, args.output);
    const count = inputNames ? `, all ${inputNames.length} tensors` : '';
    process.stdout.write(`${args.input} → ${args.output} (validated, official names${count})\n`);
  },
};
