// The `seqsam` command line. Only the command that runs is loaded (see commands.ts); exit codes follow
// exit-codes.ts.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

import { isSeqsamError } from '../errors.js';
import { packageVersion } from '../runtime.js';
import { commands } from './commands.js';
import { UsageError, exitCodeOf, exitCodes } from './exit-codes.js';
import { checkNumberFlags } from './number-flags.js';

// Ctrl-C while no command listens for it (loading, predicting, converting): leave at once with 130. Commands
// with long work install their own handler (interrupt.ts), which stops the work cleanly first.
function exitOnInterrupt(): () => void {
  const onSigint = () => {
    if (process.listenerCount('SIGINT') === 1) process.exit(exitCodes.interrupted);
  };
  process.on('SIGINT', onSigint);
  return () => process.off('SIGINT', onSigint);
}

export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  const releaseInterrupt = exitOnInterrupt();
  try {
    const chosen = commands.find((c) => c.name === argv[0]);
    let cli = yargs(argv)
      .scriptName('seqsam')
      .usage('$0 <command> [options]')
      .epilogue('Exit codes: 0 success, 1 the work failed, 2 a wrong command line (usage or argument), 130 interrupted (Ctrl-C).');
    for (const entry of commands) {
      if (entry === chosen) cli = cli.command({ ...(await entry.load()), command: entry.command, describe: entry.describe });
      else cli = cli.command(entry.command, entry.describe); // listed in the help; loaded only when chosen
    }
    await cli
      .middleware((parsed) => checkNumberFlags(parsed, argv))
      .demandCommand(1, 'name a command (see --help)')
      .strict()
      .help()
      .version(packageVersion())
      .fail((message, error) => {
        if (error) throw error;
        throw new UsageError(message, chosen?.name);
      })
      .parseAsync();
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`seqsam: ${error.message}\n(see: seqsam ${error.command ? `${error.command} ` : ''}--help)\n`);
    } else {
      const code = isSeqsamError(error) ? ` [${error.code}]` : '';
      process.stderr.write(`seqsam${code}: ${(error as Error).message}\n`);
    }
    return exitCodeOf(error);
  } finally {
    releaseInterrupt();
  }
}
