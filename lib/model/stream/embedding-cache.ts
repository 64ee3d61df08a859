// Embeddings by image content, least recently used first out, within a byte budget. An entry exists from
// the moment its image is first asked for (pending until the encoder answers), so a second request for an
// image still being encoded waits for that encoding instead of starting another. Entries in use are pinned:
// eviction skips them, and one evicted or cleared while pinned is disposed when its last user lets go.
import { ImageEmbedding } from '../embedding.js';
import { deferred, type Deferred } from './deferred.js';

interface Entry {
  key: string;
  ready: Deferred<ImageEmbedding>;
  embedding: ImageEmbedding | null;
  bytes: number;
  pins: number;
  // no longer in the map: dispose when unpinned
  dropped: boolean;
}

/** A pinned use of a cache entry; release() exactly once when done with the embedding. */
export interface EmbeddingLease {
  readonly key: string;
  // true when the entry was already there (an image seen before, or being encoded for another request)
  readonly hit: boolean;
  embedding(): Promise<ImageEmbedding>;
  release(): void;
}

/** What the encoder side does with a new entry: hand it the embedding, or the error every waiter gets. */
export interface EmbeddingReservation {
  lease: EmbeddingLease;
  fulfil(embedding: ImageEmbedding): void;
  reject(error: unknown): void;
}

export class EmbeddingCache {
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(readonly budgetBytes: number) {}

  /** Bytes held by ready entries (pinned ones included). */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** A lease on the entry for `key` when there is one (refreshing its recency), else undefined. */
  lookup(key: string): EmbeddingLease | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return this.#lease(entry, true);
  }

  /** A new pending entry for `key` (which must be absent), leased once. */
  reserve(key: string): EmbeddingReservation {
    const entry: Entry = { key, ready: deferred(), embedding: null, bytes: 0, pins: 0, dropped: false };
    this.#entries.set(key, entry);
    const lease = this.#lease(entry, false);
    return {
      lease,
      fulfil: (embedding) => {
        if (entry.dropped && entry.pins === 0) {
          embedding.dispose();
          return;
        }
        entry.embedding = embedding;
        entry.bytes = embedding.tensor.byteLength;
        if (!entry.dropped) this.#bytes += entry.bytes;
        entry.ready.resolve(embedding);
        this.#evict();
      },
      reject: (error) => {
        // A failed encoding is not cached: the next request for the image tries again.
        this.#drop(entry);
        entry.ready.reject(error);
      },
    };
  }

  /** Drops every entry; pinned ones are disposed when released. */
  clear(): void {
    for (const entry of [...this.#entries.values()]) this.#drop(entry);
  }

  #lease(entry: Entry, hit: boolean): EmbeddingLease {
    entry.pins++;
    let released = false;
    return {
      key: entry.key,
      hit,
      embedding: () => entry.ready.promise,
      release: () => {
        if (released) return;
        released = true;
        entry.pins--;
        if (entry.pins === 0 && entry.dropped) entry.embedding?.dispose();
        else this.#evict();
      },
    };
  }

  #drop(entry: Entry): void {
    if (entry.dropped) return;
    entry.dropped = true;
    this.#entries.delete(entry.key);
    if (entry.embedding) this.#bytes -= entry.bytes;
    if (entry.pins === 0) entry.embedding?.dispose();
  }

  // Oldest unpinned ready entries go first, until the budget holds (or only pinned ones are left).
  #evict(): void {
    if (this.#bytes <= this.budgetBytes) return;
    for (const entry of [...this.#entries.values()]) {
      if (this.#bytes <= this.budgetBytes) break;
      if (entry.pins === 0 && entry.embedding) this.#drop(entry);
    }
  }
}
