// The `seqsam` command line.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { isSeqsamError } from '../errors.js';
import { benchCommand } from './bench.js';
import { convertCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { embedCommand } from './embed.js';
import { evalCommand } from './eval.js';
import { infoCommand } from './info.js';
import { predictCommand } from './predict.js';
import { trainCommand } from './train.js';

export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  try {
    await yargs(argv)
      .scriptName('seqsam')
      .usage('$0 <command> [options]')
      .command(demoCommand)
      .command(trainCommand)
      .command(evalCommand)
      .command(predictCommand)
      .command(embedCommand)
      .command(convertCommand)
      .command(infoCommand)
      .command(benchCommand)
      .demandCommand(1, 'name a command (see --help)')
      .strict()
      .help()
      .version(false)
      .fail((message, error, y) => {
        if (error) throw error;
        process.stderr.write(`${y.help()}\n\n${message}\n`);
        process.exit(2);
      })
      .parseAsync();
    return 0;
  } catch (error) {
    const code = isSeqsamError(error) ? ` [${error.code}]` : '';
    process.stderr.write(`seqsam${code}: ${(error as Error).message}\n`);
    return 1;
  }
}
