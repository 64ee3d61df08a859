// Ranks started with different model configs, options or data would train apart silently (the gradients
// would still average): each part's digest is compared through the store before the first step.
import { createHash } from 'node:crypto';

import { agree, type DistributedGroup } from './process-group.js';

function digest(value: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify(value, (_, v) => (v instanceof Map ? [...v] : v)))
    .digest('hex')
    .slice(0, 16);
}

/** Refuses (ERR_DISTRIBUTED naming the rank and the part) unless every rank describes the same run. */
export async function agreeOnRun(_group: DistributedGroup, parts: Record<string, unknown>): Promise<void> {
  for (const [what, value] of Object.entries(parts)) await agree(what, digest(value));
}
