/** A decoded image: `data` is row-major, interleaved channels (index = (y * width + x) * channels + c). */
export interface RawImage {
  /** width × height × channels values: 8-bit, 16-bit or float intensities as the source holds them. */
  data: Uint8Array | Uint16Array | Float32Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels per pixel: 1 (grayscale) or 3 (RGB); 2 or 4 where a folder dataset keeps an alpha channel. */
  channels: number;
}

/** One image with its K annotations. */
export interface Sample {
  /** A name unique within the dataset (a file name, a case and slice, ...). */
  id: string;
  /** The image, at its own size. */
  image: RawImage;
  /** K binary masks, each height×width row-major, values 0/1 (a rater who marked nothing gives an all-zero mask). */
  labels: Uint8Array[];
  /** Series or patient the image belongs to, for splitting without leakage. */
  group: string;
}

/** A list of samples with K annotations each, read one at a time (every loader in `data.datasets` returns one). */
export interface Dataset {
  /** What the dataset is, for messages (e.g. the file or folder it was read from). */
  readonly name: string;
  /** The number of samples. */
  readonly length: number;
  /** Number of annotations (K) every sample carries. */
  readonly raters: number;
  /** Sample `i` (0 ≤ i < length; `ERR_ARGUMENT` otherwise), read or decoded on demand; some loaders answer with a promise. */
  get(i: number): Promise<Sample> | Sample;
}
