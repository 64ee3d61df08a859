// What one request may ask of the server. Each bound keeps a single request from taking the process's
// memory or time: the body, the pixels it decodes to, M, and the prompt's size.
export interface ServeLimits {
  // request body, bytes (a base64 image is 4/3 of its file)
  bodyBytes: number;
  // longest image side accepted, pixels
  imageSide: number;
  // largest M
  numMasks: number;
  // most points in one prompt
  points: number;
  // a request running longer is answered 503 ERR_ABORTED
  timeoutMs: number;
  // memory for embeddings kept between requests, bytes (least recently used go first)
  cacheBytes: number;
}

export const defaultLimits: ServeLimits = {
  bodyBytes: 16 * 2 ** 20,
  imageSide: 4096,
  numMasks: 64,
  points: 32,
  timeoutMs: 30_000,
  cacheBytes: 512 * 2 ** 20,
};
