// Requests waiting for a native call, grouped by what lets them share one (same image size for the
// encoder; same sizes, M and prompt kind for the decoder). A group runs when it fills a batch, when its
// oldest request has waited maxDelayMs, or at once when told to flush (nothing more can join).
export class BatchQueue<T> {
  readonly #groups = new Map<string, { since: number; items: T[] }>();

  constructor(
    readonly batchSize: number,
    readonly maxDelayMs: number,
  ) {}

  get length(): number {
    let n = 0;
    for (const group of this.#groups.values()) n += group.items.length;
    return n;
  }

  add(key: string, item: T, now = performance.now()): void {
    const group = this.#groups.get(key);
    if (group) group.items.push(item);
    else this.#groups.set(key, { since: now, items: [item] });
  }

  /** The batch to run now, if any: a full group first, then the longest-waiting due one. */
  take(now: number, flush: boolean): T[] | undefined {
    let chosen: string | undefined;
    let oldest = Infinity;
    for (const [key, group] of this.#groups) {
      if (group.items.length >= this.batchSize) {
        chosen = key;
        break;
      }
      if ((flush || now - group.since >= this.maxDelayMs) && group.since < oldest) {
        chosen = key;
        oldest = group.since;
      }
    }
    if (chosen === undefined) return undefined;
    const group = this.#groups.get(chosen)!;
    const batch = group.items.splice(0, this.batchSize);
    if (group.items.length === 0) this.#groups.delete(chosen);
    else group.since = now; // the rest start a fresh wait
    return batch;
  }

  /** When the earliest partial group falls due (ms, performance.now() clock), or Infinity. */
  nextDeadline(): number {
    let deadline = Infinity;
    for (const group of this.#groups.values()) deadline = Math.min(deadline, group.since + this.maxDelayMs);
    return deadline;
  }

  /** Empties the queue, handing back what it held. */
  drain(): T[] {
    const all = [...this.#groups.values()].flatMap((g) => g.items);
    this.#groups.clear();
    return all;
  }
}
