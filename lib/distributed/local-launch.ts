// `--nproc N`: N ranks of the same command on this machine, as torchrun starts them (RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR, MASTER_PORT on a free 127.0.0.1 port). The launcher forwards rank 0's stdout and
// every rank's stderr (prefixed with its rank), passes Ctrl-C on, and once a rank fails gives the others a
// grace period to stop on their own (they do: the group reports the lost rank) before killing them.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

import { SeqsamError } from '../errors.js';
import type { EnvironmentVariables } from '../platform-types.js';

export interface LaunchOptions {
  nproc: number;
  // The command line of one rank: node's arguments after the executable (script first).
  argv: readonly string[];
  env?: EnvironmentVariables;
  // How long the others may take to stop after one failed (default 30 s).
  graceMs?: number;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS's pick), for a local job's master. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function prefixLines(prefix: string, sink: NodeJS.WritableStream): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) sink.write(`${prefix}${line}\n`);
  };
}

/** Runs the ranks to the end; rejects with ERR_DISTRIBUTED naming the first rank that failed. */
export async function launchLocalRanks(options: LaunchOptions): Promise<void> {
  const { nproc } = options;
  if (!Number.isInteger(nproc) || nproc < 1) throw new SeqsamError('ERR_ARGUMENT', `--nproc must be a positive integer (got ${nproc})`);
  const port = await freePort();
  const children: ChildProcess[] = [];
  let firstFailure: { rank: number; code: number | null; signal: NodeJS.Signals | null } | null = null;
  let killTimer: NodeJS.Timeout | undefined;
  const onSigint = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGINT');
  };
  process.on('SIGINT', onSigint);
  try {
    await Promise.all(
      Array.from({ length: nproc }, (_, rank) => {
        const child = spawn(process.execPath, [...options.argv], {
          env: {
            ...process.env,
            ...options.env,
            RANK: String(rank),
            LOCAL_RANK: String(rank),
            WORLD_SIZE: String(nproc),
            LOCAL_WORLD_SIZE: String(nproc),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        if (rank === 0) child.stdout!.pipe(process.stdout, { end: false });
        else child.stdout!.resume();
        child.stderr!.on('data', prefixLines(`[rank ${rank}] `, process.stderr));
        return new Promise<void>((resolve) => {
          child.on('close', (code, signal) => {
            if ((code !== 0 || signal) && !firstFailure) {
              firstFailure = { rank, code, signal };
              killTimer = setTimeout(() => {
                for (const other of children) if (other.exitCode === null && other.signalCode === null) other.kill('SIGKILL');
              }, options.graceMs ?? 30000);
            }
            resolve();
          });
          child.on('error', (error) => {
            if (!firstFailure) firstFailure = { rank, code: null, signal: null };
            process.stderr.write(`[rank ${rank}] cannot start: ${error.message}\n`);
            resolve();
          });
        });
      }),
    );
  } finally {
    clearTimeout(killTimer);
    process.off('SIGINT', onSigint);
  }
  const failure = firstFailure as { rank: number; code: number | null; signal: NodeJS.Signals | null } | null;
  if (failure) {
    const how = failure.signal ? `was killed by ${failure.signal}` : `exited with code ${failure.code}`;
    throw new SeqsamError('ERR_DISTRIBUTED', `rank ${failure.rank} of ${nproc} ${how} (the first to fail; see its messages above)`);
  }
}
