// `seqsam serve`: the HTTP API and the interactive page (lib/serve/) around one loaded model, until Ctrl-C
// or SIGTERM.
import type { Argv, CommandModule } from 'yargs';

import { SeqsamError } from '../errors.js';
import { checkExposure } from '../serve/access-policy.js';
import { defaultLimits } from '../serve/limits.js';
import { defaultBatching } from '../serve/prediction-batcher.js';
import { requireWeights, withModelOptions, type ModelArgs } from './model-flags.js';
import { loadModel } from './model-options.js';

interface ServeArgs extends ModelArgs {
  host: string;
  port: number;
  token?: string;
  timeout: number;
  maxImageSide: number;
  cacheMb: number;
  batchSize: number;
  maxDelayMs: number;
  log: boolean;
}

function checkWhole(flag: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new SeqsamError('ERR_ARGUMENT', `--${flag} must be an integer in ${min}..${max} (got ${value})`);
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'Serve an HTTP API (embed once, then predict M masks from a box or points) and an interactive page',
  builder: (y) =>
    withModelOptions(y, ['model', 'preset', 'config', 'checkpoint', 'device', 'seed', 'threads', 'random-weights'])
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to listen on; anything but loopback needs --token' })
      .option('port', { type: 'number', default: 8080, describe: 'port (0: any free one)' })
      .option('token', { type: 'string', describe: 'require Authorization: Bearer <token> on every API request (default: $SEQSAM_TOKEN)' })
      .option('timeout', { type: 'number', default: defaultLimits.timeoutMs / 1000, describe: 'seconds a request may take before it is answered 503' })
      .option('max-image-side', { type: 'number', default: defaultLimits.imageSide, describe: 'longest image side accepted, pixels' })
      .option('cache-mb', { type: 'number', default: defaultLimits.cacheBytes / 2 ** 20, describe: 'memory for embeddings kept between requests, MiB' })
      .option('batch-size', { type: 'number', default: defaultBatching.batchSize, describe: 'concurrent predictions decoded in one native call, at most (1: one by one)' })
      .option('max-delay-ms', { type: 'number', default: defaultBatching.maxDelayMs, describe: 'how long a prediction waits for others to share its call, ms' })
      .option('log', { type: 'boolean', default: false, describe: 'log every request (JSON lines on stdout)' })
      .example('$0 serve --random-weights', 'the tiny model on random weights, at http://127.0.0.1:8080 (a demo of the page)')
      .example('$0 serve --checkpoint runs/lidc/best.safetensors --host 0.0.0.0 --token "$(openssl rand -hex 16)"', 'reachable from other machines, with a token') as unknown as Argv<ServeArgs>,
  handler: async (args) => {
    const token = args.token ?? process.env.SEQSAM_TOKEN ?? undefined;
    checkWhole('port', args.port, 0, 65535);
    checkWhole('max-image-side', args.maxImageSide, 1, 32768);
    if (!(args.timeout > 0 && args.timeout <= 3600)) throw new SeqsamError('ERR_ARGUMENT', `--timeout must be in (0, 3600] seconds (got ${args.timeout})`);
    checkWhole('batch-size', args.batchSize, 1, 64);
    if (!(args.maxDelayMs >= 0 && args.maxDelayMs <= 60_000)) throw new SeqsamError('ERR_ARGUMENT', `--max-delay-ms must be in [0, 60000] (got ${args.maxDelayMs})`);
    if (!(args.cacheMb >= 0)) throw new SeqsamError('ERR_ARGUMENT', `--cache-mb must be ≥ 0 (got ${args.cacheMb})`);
    checkExposure(args.host, token); // before the model loads: a refused command line costs nothing
    requireWeights(args, 'serve');
    const { startServer } = await import('../serve/server.js');
    const model = await loadModel(args);
    const server = await startServer(model, {
      host: args.host,
      port: args.port,
      token,
      log: args.log,
      batching: { batchSize: args.batchSize, maxDelayMs: args.maxDelayMs },
      limits: { timeoutMs: args.timeout * 1000, imageSide: args.maxImageSide, cacheBytes: args.cacheMb * 2 ** 20 },
    }).catch((error: Error & { code?: string }) => {
      model.dispose();
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') throw new SeqsamError('ERR_ARGUMENT', `--host ${args.host} --port ${args.port}: ${error.message}`);
      throw error;
    });
    process.stderr.write(`seqsam serve: ${server.url}/ (API: ${server.url}/openapi.json${token ? '; API requests need Authorization: Bearer <token>, the page takes it as #token=…' : ''})\n`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    process.stderr.write('seqsam serve: stopping\n');
    await server.close();
    model.dispose();
  },
};
