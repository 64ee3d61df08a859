// The JSON API: /v1/embed, /v1/predict, /healthz.
import type { FastifyInstance } from 'fastify';

import { SeqsamError } from '../errors.js';
import type { Box, Point } from '../model/prompts.js';
import { packageVersion } from '../runtime.js';
import type { EmbeddingStore } from './embedding-store.js';
import { readUploadedImage } from './image-upload.js';
import type { ServeLimits } from './limits.js';
import type { PredictionBatcher } from './prediction-batcher.js';
import { greyPng, maskPixels, runLength, scaledPixels } from './mask-encoding.js';
import { withTimeout } from './request-timeout.js';
import { embedSchema, healthSchema, predictSchema } from './schemas.js';

interface PredictBody {
  id: string;
  box?: Box;
  points?: Point[];
  pointLabels?: number[];
  numMasks: number;
  format: 'png' | 'rle';
}

export function apiRoutes(app: FastifyInstance, store: EmbeddingStore, batcher: PredictionBatcher, limits: ServeLimits): void {
  const model = store.model;
  const config = model.config;

  app.post<{ Body: { image: string } }>('/v1/embed', { schema: embedSchema(limits) }, async (request) => {
    const image = await readUploadedImage(request.body.image, limits.imageSide);
    const { cached } = await withTimeout(store.embed(image), limits.timeoutMs, 'embedding the image');
    return { id: image.id, width: image.width, height: image.height, cached };
  });

  app.post<{ Body: PredictBody }>('/v1/predict', { schema: predictSchema(limits) }, async (request) => {
    const { id, box, points, numMasks, format } = request.body;
    if (!box && !points) throw new SeqsamError('ERR_ARGUMENT', 'give a box and/or points');
    if (request.body.pointLabels && !points) throw new SeqsamError('ERR_ARGUMENT', 'pointLabels given without points');
    const pointLabels = points ? (request.body.pointLabels ?? points.map(() => 1)) : undefined;
    // Through the batcher: concurrent requests share decoder calls. The lease on the embedding holds until
    // the batch this prompt joined has run.
    const work = store.with(id, (embedding) => batcher.predict(embedding, { box, points, pointLabels, numMasks }));
    const out = await withTimeout(work, limits.timeoutMs, 'the prediction', (late) => late.dispose());
    try {
      const [, m, height, width] = out.masks.shape;
      const logits = (await out.masks.toTypedArray()) as Float32Array;
      const iou = Array.from((await out.iou.toTypedArray()) as Float32Array);
      const mean = (await out.mean.toTypedArray()) as Float32Array;
      const variance = (await out.variance.toTypedArray()) as Float32Array;
      const size = height * width;
      let disagreementMax = 0;
      for (const v of variance) if (v > disagreementMax) disagreementMax = v;
      if (!(disagreementMax > 0)) disagreementMax = 0.25; // all agree: a black map
      const areas: number[] = [];
      const masks = [];
      for (let k = 0; k < m; k++) {
        const pixels = maskPixels(logits, k * size, size);
        areas.push(pixels.reduce((n, v) => n + (v ? 1 : 0), 0));
        masks.push(format === 'rle' ? runLength(logits, k * size, height, width) : await greyPng(pixels, height, width));
      }
      return {
        width,
        height,
        numMasks: m,
        format,
        masks,
        iou,
        areas,
        mean: await greyPng(scaledPixels(mean, 1), height, width),
        // Stretched to its own maximum (named, so the absolute value is recoverable): an 8-bit map scaled to
        // the bound 0.25 would round a model's small but telling disagreement to black.
        disagreement: await greyPng(scaledPixels(variance, disagreementMax), height, width),
        disagreementMax,
      };
    } finally {
      out.dispose();
    }
  });

  app.get('/healthz', { schema: healthSchema }, async () => ({
    ok: true,
    version: packageVersion(),
    device: model.device,
    imageSize: config.image_size,
    maxNumMasks: limits.numMasks,
    cachedEmbeddings: store.size,
    cacheBytes: store.bytes,
  }));
}
