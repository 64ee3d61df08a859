// JSON schemas of the API: fastify validates every body against them before a handler runs, and the
// OpenAPI description is generated from them.
import type { ServeLimits } from './limits.js';

const errorSchema = {
  type: 'object',
  properties: { code: { type: 'string', description: "the package's error code, e.g. ERR_ARGUMENT" }, message: { type: 'string' } },
  required: ['code', 'message'],
};
const errors = { 400: errorSchema, 401: errorSchema, 404: errorSchema, 413: errorSchema, 503: errorSchema };
const security = [{ bearer: [] }];

export function embedSchema(limits: ServeLimits) {
  return {
    summary: 'Embed an image once; predict from its id afterwards',
    security,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['image'],
      properties: { image: { type: 'string', maxLength: limits.bodyBytes, description: 'PNG or JPEG, base64 (a data: URL prefix is accepted)' } },
    },
    response: {
      200: {
        type: 'object',
        properties: { id: { type: 'string' }, width: { type: 'integer' }, height: { type: 'integer' }, cached: { type: 'boolean' } },
        required: ['id', 'width', 'height', 'cached'],
      },
      ...errors,
    },
  };
}

const coordinate = { type: 'number' };

export function predictSchema(limits: ServeLimits) {
  return {
    summary: 'M plausible masks for a box and/or points on an embedded image, with the mean and disagreement maps',
    security,
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['id'],
      properties: {
        id: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'from /v1/embed' },
        box: { type: 'array', items: coordinate, minItems: 4, maxItems: 4, description: 'x0 y0 x1 y1, image pixels' },
        points: { type: 'array', minItems: 1, maxItems: limits.points, items: { type: 'array', items: coordinate, minItems: 2, maxItems: 2 } },
        pointLabels: { type: 'array', maxItems: limits.points, items: { type: 'integer', enum: [1, 0, -1] }, description: '1 foreground, 0 background (default 1)' },
        numMasks: { type: 'integer', minimum: 1, maximum: limits.numMasks, default: 4 },
        format: { type: 'string', enum: ['png', 'rle'], default: 'png' },
      },
    },
    response: {
      200: {
        type: 'object',
        properties: {
          width: { type: 'integer' },
          height: { type: 'integer' },
          numMasks: { type: 'integer' },
          format: { type: 'string' },
          masks: { type: 'array', items: {}, description: 'base64 PNGs, or { size: [h, w], counts } row-major runs starting with background' },
          iou: { type: 'array', items: { type: 'number' } },
          areas: { type: 'array', items: { type: 'integer' } },
          mean: { type: 'string', description: 'mean mask probability, greyscale PNG (base64), 255 = 1' },
          disagreement: { type: 'string', description: 'variance of the mask probabilities, greyscale PNG (base64), 255 = disagreementMax' },
          disagreementMax: { type: 'number', description: 'the largest variance in the map (at most 0.25: half the masks on, half off)' },
        },
        required: ['width', 'height', 'numMasks', 'format', 'masks', 'mean', 'disagreement', 'disagreementMax'],
      },
      ...errors,
    },
  };
}

export const healthSchema = {
  summary: 'Liveness, the model and the embedding cache',
  security,
  response: {
    200: {
      type: 'object',
      properties: {
        ok: { type: 'boolean' },
        version: { type: 'string' },
        device: { type: 'string' },
        imageSize: { type: 'integer' },
        maxNumMasks: { type: 'integer' },
        cachedEmbeddings: { type: 'integer' },
        cacheBytes: { type: 'integer' },
      },
    },
  },
};
