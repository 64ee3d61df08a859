// The image encoder is frozen while SeqSAM trains, so each image is embedded once: the embedding is kept
// hot in memory (native tensors on the model's device, least recently used dropped past a byte budget)
// and, given a directory, on disk as one safetensors file per image.
//
// An entry's key is the sha256 of the image (bytes, shape, element type), the preprocessing options, the
// storage precision and the encoder's fingerprint (its config plus the bytes of a few encoder weights),
// so a different checkpoint, seed or preprocessing never reuses a stale embedding.
//
// Placement: hot entries live on the model's device when that is a CUDA device with room for the whole
// budget (its free memory at first use, less a reserve for the model's own work), else in CPU memory, from
// where each use copies them over.
//
// Precision: with 'float16' (the default) embeddings are stored as float16 and every copy in use is that
// float16 value widened back to float32, whether it was just computed or read from disk. A run that
// resumes from a fresh process (embeddings read back from disk) therefore sees bit-identical inputs.
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors.js';
import { prepareImage, type IntensityMode } from '../data/prepare.js';
import type { RawImage, Sample } from '../data/types.js';
import { SeqsamError } from '../errors.js';
import { cudaMemory } from '../runtime.js';
import type { ImageEmbedding } from '../model/embedding.js';
import type { ImageInput, ImageOptions } from '../model/image-input.js';
import { cat, valueStats } from '../ops.js';
import { type NamedTensors, Tensor, disposeAll } from '../tensor.js';

/** What the cache needs of a model (SeqSam and Sam both fit). */
export interface EncoderModel {
  /** Runs the image encoder. */
  embed(image: ImageInput, options?: ImageOptions): Promise<ImageEmbedding>;
  /** The architecture, part of the fingerprint. */
  readonly config: object;
  /** Where embeddings are computed and returned. */
  readonly device: string;
  /** The weights; a few encoder tensors go into the fingerprint. */
  stateDict(scope?: 'sam' | 'all'): NamedTensors;
}

/**
 * Options of an {@link EmbeddingCache}. The image encoder is frozen while SeqSAM trains, so each image is
 * embedded once: kept in memory (least recently used dropped past `maxBytes`) and, given `dir`, on disk as
 * one safetensors file per image, keyed by the image, the preprocessing, the precision and the encoder's
 * fingerprint (so a different checkpoint never reuses a stale embedding).
 */
export interface EmbeddingCacheOptions {
  /** Directory for the on-disk cache (created when missing). Without it the cache lives in memory only. */
  dir?: string;
  /** In-memory budget in bytes (default 1 GiB). The entry just added is kept even when it alone exceeds it. */
  maxBytes?: number;
  /** Image preprocessing before the encoder (see `prepareImage`; default 'sam'). */
  intensity?: IntensityMode;
  /**
   * Storage precision (default 'float16': every copy in use is that float16 value widened back to
   * float32, whether just computed or read from disk, so a resumed run sees bit-identical inputs).
   */
  precision?: 'float16' | 'float32';
  /**
   * Where hot entries live: 'auto' (default: the model's device when it is a CUDA device with room for
   * the whole budget plus {@link deviceReserveBytes}, else CPU memory), 'model' (the model's device,
   * whatever its free memory) or 'cpu'.
   */
  placement?: CachePlacement;
}

/** Where an {@link EmbeddingCache} keeps hot entries: see {@link EmbeddingCacheOptions.placement}. */
export type CachePlacement = 'auto' | 'model' | 'cpu';

/** Free device memory that 'auto' leaves to the model beyond the cache's budget: activations, optimizer state. */
export const deviceReserveBytes = 4 * 1024 ** 3;

// 'cuda' and 'cuda:0' name one device.
function sameDevice(a: string, b: string): boolean {
  const canonical = (d: string) => (d === 'cuda' ? 'cuda:0' : d);
  return canonical(a) === canonical(b);
}

/** Where hot entries live for a model on `modelDevice`. */
export function cacheDevice(placement: CachePlacement, modelDevice: string, maxBytes: number): string {
  if (placement === 'cpu' || modelDevice === 'cpu') return 'cpu';
  if (placement === 'model' || !modelDevice.startsWith('cuda')) return modelDevice;
  const memory = cudaMemory(modelDevice);
  return memory && maxBytes + deviceReserveBytes <= memory.free ? modelDevice : 'cpu';
}

/** An {@link EmbeddingCache}'s counters since it was made. */
export interface EmbeddingCacheStats {
  /** Embeddings served from memory. */
  memoryHits: number;
  /** Embeddings read from the disk cache. */
  diskHits: number;
  /** Embeddings computed by the encoder. */
  computed: number;
  /** Entries dropped from memory to stay within the budget. */
  evictions: number;
  /** Entries in memory now. */
  entries: number;
  /** Bytes those entries hold. */
  bytes: number;
}

/** Encoder weights hashed into the fingerprint (the first and the last layer of SAM's image encoder). */
export const fingerprintTensors = ['image_encoder.patch_embed.proj.weight', 'image_encoder.neck.3.weight'] as const;

const fingerprints = new WeakMap<object, Promise<string>>();

function bytesOf(data: ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * sha256 of the model config and the bytes of a few encoder weights; memoised per model object (a model's
 * weights are set when it is loaded; a frozen encoder does not change).
 */
export function encoderFingerprint(model: EncoderModel, options: { refresh?: boolean } = {}): Promise<string> {
  const known = fingerprints.get(model);
  if (known && !options.refresh) return known;
  const promise = (async () => {
    const hash = createHash('sha256');
    hash.update('seqsam-encoder-v1\0');
    hash.update(JSON.stringify(model.config));
    const weights = model.stateDict('sam');
    try {
      const names = Object.keys(weights);
      const chosen = fingerprintTensors.filter((n) => n in weights);
      // A model without SAM's usual names: the first and the last encoder tensor by name.
      if (chosen.length === 0) {
        const encoder = names.filter((n) => n.startsWith('image_encoder.')).sort();
        if (!encoder.length) throw new SeqsamError('ERR_ARGUMENT', 'encoderFingerprint: the model has no image_encoder.* weights');
        chosen.push(encoder[0] as (typeof fingerprintTensors)[number], encoder[encoder.length - 1] as (typeof fingerprintTensors)[number]);
      }
      for (const name of chosen) {
        const t = weights[name]!;
        hash.update(`\0${name}\0${t.dtype}\0${t.shape.join(',')}\0`);
        hash.update(bytesOf(await t.toTypedArray()));
      }
    } finally {
      disposeAll(weights);
    }
    return hash.digest('hex');
  })();
  fingerprints.set(model, promise);
  promise.catch(() => fingerprints.delete(model));
  return promise;
}

interface Entry {
  tensor: Tensor;
  bytes: number;
  pins: number;
}

function imageOf(input: Sample | RawImage): { image: RawImage; id?: string } {
  if (input && typeof input === 'object' && 'image' in input && 'labels' in input) return { image: input.image, id: input.id };
  if (input && typeof input === 'object' && 'data' in input && 'width' in input) return { image: input };
  throw new SeqsamError('ERR_ARGUMENT', 'EmbeddingCache: expected a Sample or a raw image { data, width, height, channels }');
}

/**
 * Image embeddings computed once and reused (see {@link EmbeddingCacheOptions}): in memory within a byte
 * budget and, given a directory, on disk. Share one between `train` and `evaluate` through their `cache`
 * option; dispose it when done.
 */
export class EmbeddingCache implements Disposable {
  /** The on-disk cache's folder (undefined: memory only). */
  readonly dir: string | undefined;
  /** The in-memory budget, in bytes. */
  readonly maxBytes: number;
  /** The image preprocessing in effect. */
  readonly intensity: IntensityMode;
  /** The storage precision in effect. */
  readonly precision: 'float16' | 'float32';
  /** The placement rule in effect. */
  readonly placement: CachePlacement;
  #devices = new Map<string, string>();  // model device -> where its entries live
  #served: Tensor | null = null;  // get()'s copy on the model's device when entries live elsewhere
  #entries = new Map<string, Entry>();
  #pending = new Map<string, Promise<Entry>>();
  #bytes = 0;
  #dirReady: Promise<unknown> | null = null;
  #disposed = false;
  #stats = { memoryHits: 0, diskHits: 0, computed: 0, evictions: 0 };

  /** Makes an empty cache; `ERR_ARGUMENT` for an option out of range. */
  constructor(options: EmbeddingCacheOptions = {}) {
    const maxBytes = options.maxBytes ?? 1024 ** 3;
    if (typeof maxBytes !== 'number' || !(maxBytes >= 0)) throw new SeqsamError('ERR_ARGUMENT', `EmbeddingCache: maxBytes must be ≥ 0 (got ${String(maxBytes)})`);
    const precision = options.precision ?? 'float16';
    if (precision !== 'float16' && precision !== 'float32') throw new SeqsamError('ERR_ARGUMENT', `EmbeddingCache: precision must be 'float16' or 'float32'`);
    const intensity = options.intensity ?? 'sam';
    if (intensity !== 'sam' && intensity !== 'minmax') throw new SeqsamError('ERR_ARGUMENT', `EmbeddingCache: intensity must be 'sam' or 'minmax'`);
    this.dir = options.dir;
    this.maxBytes = maxBytes;
    this.precision = precision;
    this.intensity = intensity;
    const placement = options.placement ?? 'auto';
    if (placement !== 'auto' && placement !== 'model' && placement !== 'cpu') throw new SeqsamError('ERR_ARGUMENT', `EmbeddingCache: placement must be 'auto', 'model' or 'cpu'`);
    this.placement = placement;
  }

  /** Where the entries for a model on `modelDevice` live (decided at first use, then kept). */
  deviceFor(modelDevice: string): string {
    let device = this.#devices.get(modelDevice);
    if (device === undefined) {
      device = cacheDevice(this.placement, modelDevice, this.maxBytes);
      this.#devices.set(modelDevice, device);
    }
    return device;
  }

  /** The counters so far (a snapshot). */
  get stats(): EmbeddingCacheStats {
    return { ...this.#stats, entries: this.#entries.size, bytes: this.#bytes };
  }

  /** The cache key of an image for a model. */
  async key(model: EncoderModel, input: Sample | RawImage): Promise<string> {
    const { image } = imageOf(input);
    const fingerprint = await encoderFingerprint(model);
    return this.#key(fingerprint, image);
  }

  #key(fingerprint: string, image: RawImage): string {
    const hash = createHash('sha256');
    const parts = { v: 1, fingerprint, shape: [image.height, image.width, image.channels], type: image.data.constructor.name, intensity: this.intensity, precision: this.precision };
    hash.update(JSON.stringify(parts));
    hash.update('\0');
    hash.update(bytesOf(image.data));
    return hash.digest('hex');
  }

  /** Where an entry lives on disk (undefined without a directory). */
  path(key: string): string | undefined {
    return this.dir === undefined ? undefined : join(this.dir, key.slice(0, 2), `${key}.safetensors`);
  }

  /**
   * The (1, C, h, w) float32 embedding on the model's device. The cache owns it: do not dispose it, and
   * do not keep it past the next call into the cache (which may evict it); use batch() for several.
   */
  async get(model: EncoderModel, input: Sample | RawImage): Promise<Tensor> {
    this.#served?.dispose();
    this.#served = null;
    const entry = await this.#acquire(model, input);
    try {
      if (sameDevice(entry.tensor.device, model.device)) return entry.tensor;
      this.#served = await entry.tensor.to({ device: model.device });
      return this.#served;
    } finally {
      entry.pins--;
      this.#evict(entry);
    }
  }

  /**
   * The embeddings of several images stacked into (B, C, h, w) on the model's device: a new tensor the
   * caller disposes.
   */
  async batch(model: EncoderModel, inputs: readonly (Sample | RawImage)[]): Promise<Tensor> {
    if (!inputs.length) throw new SeqsamError('ERR_ARGUMENT', 'EmbeddingCache.batch: no images');
    const held: Entry[] = [];
    try {
      for (const input of inputs) held.push(await this.#acquire(model, input));
      const stacked = cat(held.map((e) => e.tensor), 0);
      if (sameDevice(stacked.device, model.device)) return stacked;
      try {
        return await stacked.to({ device: model.device });
      } finally {
        stacked.dispose();
      }
    } finally {
      for (const e of held) e.pins--;
      this.#evict();
    }
  }

  async #acquire(model: EncoderModel, input: Sample | RawImage): Promise<Entry> {
    if (this.#disposed) throw new SeqsamError('ERR_DISPOSED', 'EmbeddingCache: used after dispose()');
    const { image, id } = imageOf(input);
    const fingerprint = await encoderFingerprint(model);
    const key = this.#key(fingerprint, image);
    let hot = this.#entries.get(key);
    if (hot?.tensor.disposed) {
      // Disposed from outside (against the contract): forget it and load again.
      this.#entries.delete(key);
      this.#bytes -= hot.bytes;
      hot = undefined;
    }
    if (hot) {
      // Most recently used goes last.
      this.#entries.delete(key);
      this.#entries.set(key, hot);
      this.#stats.memoryHits++;
      hot.pins++;
      return hot;
    }
    let pending = this.#pending.get(key);
    if (!pending) {
      pending = this.#load(model, key, fingerprint, image, id).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    } else {
      this.#stats.memoryHits++;
    }
    const entry = await pending;
    entry.pins++;
    return entry;
  }

  async #load(model: EncoderModel, key: string, fingerprint: string, image: RawImage, id?: string): Promise<Entry> {
    const device = this.deviceFor(model.device);
    const path = this.path(key);
    let tensor: Tensor | null = null;
    if (path) tensor = await this.#readDisk(path, key, device);
    if (tensor) {
      this.#stats.diskHits++;
    } else {
      tensor = await this.#compute(model, key, fingerprint, image, path, id);
      this.#stats.computed++;
      if (!sameDevice(tensor.device, device)) {
        const moved = await tensor.to({ device }).finally(() => tensor!.dispose());
        tensor = moved;
      }
    }
    const entry: Entry = { tensor, bytes: tensor.byteLength, pins: 0 };
    if (this.#disposed) {
      tensor.dispose();
      throw new SeqsamError('ERR_DISPOSED', 'EmbeddingCache: disposed while loading');
    }
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    return entry;
  }

  async #readDisk(path: string, key: string, device: string): Promise<Tensor | null> {
    let read: Awaited<ReturnType<typeof readSafetensors>>;
    try {
      read = await readSafetensors(path);
    } catch {
      return null; // missing or unreadable: recompute (and overwrite)
    }
    try {
      const stored = read.tensors.embedding;
      if (read.metadata.key !== key || !stored || stored.shape.length !== 4 || stored.shape[0] !== 1) return null;
      const tensor = await stored.to({ dtype: 'float32', device });
      // A NaN here would surface much later as a NaN cost matrix: name the file now.
      const { nonFinite } = await valueStats(tensor).catch((error: unknown) => {
        tensor.dispose();
        throw error;
      });
      if (nonFinite > 0) {
        tensor.dispose();
        throw new SeqsamError('ERR_DATA', `${path}: the cached embedding holds ${nonFinite} NaN or infinite value(s); delete the file to embed the image again`);
      }
      return tensor;
    } finally {
      disposeAll(read.tensors);
    }
  }

  async #compute(model: EncoderModel, key: string, fingerprint: string, image: RawImage, path: string | undefined, id?: string): Promise<Tensor> {
    const prepared = prepareImage(image, { intensity: this.intensity });
    const embedding = await model.embed(prepared);
    const computed = embedding.tensor;
    let stored: Tensor = computed;
    try {
      if (this.precision === 'float16') stored = await computed.to({ dtype: 'float16' });
      if (path) {
        if (!this.#dirReady) this.#dirReady = mkdir(this.dir!, { recursive: true });
        await this.#dirReady;
        await mkdir(join(this.dir!, key.slice(0, 2)), { recursive: true });
        await writeSafetensors(path, { embedding: stored }, {
          format: 'seqsam-embedding',
          key,
          fingerprint,
          imageSha256: createHash('sha256').update(bytesOf(image.data)).digest('hex'),
          imageShape: JSON.stringify([image.height, image.width, image.channels]),
          imageType: image.data.constructor.name,
          intensity: this.intensity,
          precision: this.precision,
          originalSize: JSON.stringify(embedding.originalSize),
          inputSize: JSON.stringify(embedding.inputSize),
          ...(id !== undefined ? { id } : {}),
        });
      }
      if (stored === computed) return computed;
      return await stored.to({ dtype: 'float32' });
    } catch (error) {
      if (stored === computed) computed.dispose();
      throw error;
    } finally {
      if (stored !== computed) {
        stored.dispose();
        computed.dispose();
      }
    }
  }

  // Drops least recently used entries (never pinned ones, nor `keep`) until within the budget.
  #evict(keep?: Entry): void {
    if (this.#bytes <= this.maxBytes) return;
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      if (entry.pins > 0 || entry === keep) continue;
      this.#entries.delete(key);
      this.#bytes -= entry.bytes;
      entry.tensor.dispose();
      this.#stats.evictions++;
    }
  }

  /** Drops every in-memory entry (the disk cache stays). */
  clear(): void {
    for (const entry of this.#entries.values()) if (entry.pins === 0) entry.tensor.dispose();
    for (const [key, entry] of this.#entries) if (entry.pins === 0) this.#entries.delete(key);
    this.#bytes = [...this.#entries.values()].reduce((a, e) => a + e.bytes, 0);
  }

  /** Frees every in-memory entry; the disk cache stays. */
  dispose(): void {
    this.#disposed = true;
    this.#served?.dispose();
    this.#served = null;
    for (const entry of this.#entries.values()) entry.tensor.dispose();
    this.#entries.clear();
    this.#bytes = 0;
  }

  /** Same as `dispose()`, for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
