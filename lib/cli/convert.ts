// `seqsam convert`: a checkpoint in any supported form (torch.save .pth, safetensors with official or
// Hugging Face names) to safetensors. With an architecture (--preset / --config, or one the file
// records) the weights go through the model, so the output is validated and carries official names;
// without one the tensors are copied as they are.
import type { Argv, CommandModule } from 'yargs';

import { readCheckpoint, writeSafetensors } from '../checkpoint/index.js';
import { SeqsamError } from '../errors.js';
import { disposeAll } from '../tensor.js';
import { Sam } from '../model/sam.js';
import { architecture, checkpointMetadata, loadModel, withModelOptions, type ModelArgs } from './model-options.js';

interface ConvertArgs extends ModelArgs {
  input: string;
  output: string;
  raw: boolean;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <input> <output>',
  describe: 'Convert a checkpoint (.pth or safetensors, official or Hugging Face names) to safetensors',
  builder: (y) =>
    withModelOptions(y)
      .positional('input', { type: 'string', demandOption: true })
      .positional('output', { type: 'string', demandOption: true })
      .option('raw', { type: 'boolean', default: false, describe: 'copy the tensors without checking them against an architecture' })
      .example('$0 convert sam_vit_b_01ec64.pth sam_vit_b.safetensors --preset vit_b', 'validated, official names') as unknown as Argv<ConvertArgs>,
  handler: async (args) => {
    if (!args.output.endsWith('.safetensors')) throw new SeqsamError('ERR_ARGUMENT', `${args.output}: the output is written as safetensors; name it *.safetensors`);
    const metadata = await checkpointMetadata(args.input);
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
    // A seqsam checkpoint keeps its cell and training setup; SAM / MedSAM weights stay plain SAM.
    const model = metadata.model === 'seqsam' ? await loadModel({ ...args, checkpoint: args.input }) : await Sam.load({ ...(await architecture(args, metadata)), device: args.device, checkpoint: args.input });
    try {
      await model.save(args.output);
      process.stdout.write(`${args.input} → ${args.output} (validated, official names)\n`);
    } finally {
      model.dispose();
    }
  },
};
