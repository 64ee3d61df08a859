// Embeddings by id (the image's content hash) between requests: the stream's LRU cache under a byte
// budget, its pinning keeping an embedding alive while a prediction uses it. An id evicted (or never
// embedded) answers 404, and the client embeds again.
import type { ImageEmbedding } from '../model/embedding.js';
import type { SeqSam } from '../model/seqsam.js';
import { EmbeddingCache, type EmbeddingLease } from '../model/stream/embedding-cache.js';
import { httpError } from './http-errors.js';
import type { UploadedImage } from './image-upload.js';

export class EmbeddingStore {
  readonly #cache: EmbeddingCache;

  constructor(
    readonly model: SeqSam,
    cacheBytes: number,
  ) {
    this.#cache = new EmbeddingCache(cacheBytes);
  }

  get size(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.bytes;
  }

  /** Embeds the image unless its id is already held (or being embedded); whether it was. */
  async embed(image: UploadedImage): Promise<{ cached: boolean }> {
    const found = this.#cache.lookup(image.id);
    if (found) {
      try {
        await found.embedding();
        return { cached: true };
      } finally {
        found.release();
      }
    }
    const reservation = this.#cache.reserve(image.id);
    try {
      reservation.fulfil(await this.model.embed(image.bytes));
      return { cached: false };
    } catch (error) {
      reservation.reject(error);
      throw error;
    } finally {
      reservation.lease.release();
    }
  }

  /** Runs `use` with the embedding for `id`, pinned meanwhile; 404 ERR_ARGUMENT for an unknown id. */
  async with<T>(id: string, use: (embedding: ImageEmbedding) => Promise<T>): Promise<T> {
    const lease: EmbeddingLease | undefined = this.#cache.lookup(id);
    if (!lease) throw httpError(404, 'ERR_ARGUMENT', `id ${id} is not (or no longer) embedded here: POST the image to /v1/embed again`);
    try {
      return await use(await lease.embedding());
    } finally {
      lease.release();
    }
  }

  clear(): void {
    this.#cache.clear();
  }
}
