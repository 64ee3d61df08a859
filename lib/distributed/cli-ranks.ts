// The command line's side of distributed runs: `--nproc N` starts N local ranks of the same command, and a
// command started as a rank (torchrun's environment: by --nproc, torchrun, Slurm or by hand) joins the group.
import { availableParallelism } from 'node:os';

import { launchLocalRanks } from './local-launch.js';
import { barrier, destroy, init, type DistributedGroup } from './process-group.js';
import { fromEnv, inDistributedEnv } from './torchrun-env.js';

/** The --nproc flag (yargs option). */
export const nprocOption = {
  type: 'number',
  default: 1,
  describe: 'ranks to start on this machine (data-parallel; one per GPU with --device cuda, else CPU ranks sharing the cores)',
} as const;

// The command line again, without --nproc (a rank must not launch ranks of its own).
function withoutNproc(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--nproc') i++;
    else if (!argv[i]!.startsWith('--nproc=')) out.push(argv[i]!);
  }
  return out;
}

/**
 * Under --nproc N > 1 in a process that is not a rank itself: starts the N ranks (CPU ranks get cores/N
 * threads each unless --threads is given), waits for them and returns true; the caller then does nothing else.
 */
export async function launchRanksIfAsked(args: { nproc?: number; device?: string; threads?: number }): Promise<boolean> {
  const nproc = args.nproc ?? 1;
  if (nproc <= 1 || inDistributedEnv()) return false;
  const argv = [process.argv[1]!, ...withoutNproc(process.argv.slice(2))];
  const onCpu = !(args.device ?? 'cpu').startsWith('cuda');
  if (onCpu && args.threads === undefined) argv.push('--threads', String(Math.max(1, Math.floor(availableParallelism() / nproc))));
  // The launcher has already made sure the build is current.
  await launchLocalRanks({ nproc, argv, env: { SEQSAM_NO_SETUP: '1' } });
  return true;
}

/**
 * In a process started as a rank: joins the group (NCCL on this rank's GPU with --device cuda, else Gloo)
 * and points `args.device` at the rank's GPU; null when the process runs alone.
 */
export async function joinRankFromEnv(args: { device?: string }): Promise<DistributedGroup | null> {
  if (!inDistributedEnv()) return null;
  const options = fromEnv();
  const onCuda = (args.device ?? 'cpu').startsWith('cuda');
  if (onCuda && args.device === 'cuda') args.device = `cuda:${options.localRank ?? 0}`;
  const deviceIndex = onCuda ? Number(args.device!.split(':')[1] ?? 0) : 0;
  return init({ ...options, backend: onCuda ? 'nccl' : 'gloo', deviceIndex });
}

/** Ends a rank's part: after success every rank waits for the others (rank 0 hosts the store), then leaves. */
export async function leaveRank(group: DistributedGroup | null, succeeded: boolean): Promise<void> {
  if (!group) return;
  try {
    if (succeeded) await barrier();
  } finally {
    destroy();
  }
}
