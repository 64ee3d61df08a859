// The `seqsam` command line.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { isSeqsamError } from '../errors.js';
import { benchCommand } from './bench.js';
import { infoCommand } from './info.js';

export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  try {
    await yargs(argv)
      .scriptName('seqsam')
      .usage('$0 <command> [options]')
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
