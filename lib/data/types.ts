/** A decoded image: `data` is row-major, interleaved channels (index = (y * width + x) * channels + c). */
export interface RawImage {
  data: Uint8Array | Uint16Array | Float32Array;
  width: number;
  height: number;
  channels: number;
}

/** One image with its K annotations. */
export interface Sample {
  id: string;
  image: RawImage;
  /** K binary masks, each height×width row-major, values 0/1 (a rater who marked nothing gives an all-zero mask). */
  labels: Uint8Array[];
  /** Series or patient the image belongs to, for splitting without leakage. */
  group: string;
}

export interface Dataset {
  readonly name: string;
  readonly length: number;
  /** Number of annotations (K) every sample carries. */
  readonly raters: number;
  get(i: number): Promise<Sample> | Sample;
}
