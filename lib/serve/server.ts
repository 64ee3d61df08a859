// `seqsam serve`'s HTTP server, on fastify: a well-kept, fast framework that validates request bodies
// against JSON schemas before handlers run and describes the API as OpenAPI from the same schemas.
import swagger from '@fastify/swagger';
import { fastify, type FastifyInstance } from 'fastify';

import type { SeqSam } from '../model/seqsam.js';
import { packageVersion } from '../runtime.js';
import { checkNumber } from '../validate.js';
import { bearerMatches, checkExposure } from './access-policy.js';
import { apiRoutes } from './api-routes.js';
import { EmbeddingStore } from './embedding-store.js';
import { httpError, replyWithError } from './http-errors.js';
import { defaultLimits, type ServeLimits } from './limits.js';
import { pageRoutes, publicPaths } from './page-routes.js';
import { defaultBatching, PredictionBatcher, type BatchingOptions } from './prediction-batcher.js';

export interface ServeOptions {
  // default 127.0.0.1; anything but loopback needs a token
  host?: string;
  // default 8080; 0 picks a free port
  port?: number;
  // required on a non-loopback host; then every API request needs `Authorization: Bearer <token>`
  token?: string;
  limits?: Partial<ServeLimits>;
  /** How concurrent predictions share decoder calls (default batchSize 8, maxDelayMs 5). */
  batching?: Partial<BatchingOptions>;
  // fastify's request log (default off)
  log?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  // http://host:port
  url: string;
  close(): Promise<void>;
}

/** Builds the server around a loaded model (not listening yet); the caller keeps ownership of the model. */
export async function createServer(model: SeqSam, options: ServeOptions = {}): Promise<{ app: FastifyInstance; store: EmbeddingStore }> {
  const host = options.host ?? '127.0.0.1';
  checkExposure(host, options.token);
  const limits: ServeLimits = { ...defaultLimits, ...options.limits };
  const app = fastify({
    logger: options.log ?? false,
    bodyLimit: limits.bodyBytes,
    // A body that trickles in slower than this is dropped (the handler's own deadline is timeoutMs).
    requestTimeout: limits.timeoutMs + 10_000,
    // Strict bodies: no type coercion, no silently dropped fields.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } },
  });
  const store = new EmbeddingStore(model, limits.cacheBytes);
  const batching = { ...defaultBatching, ...options.batching };
  checkNumber('serve: batching.batchSize', batching.batchSize, { min: 1, max: 64, integer: true });
  checkNumber('serve: batching.maxDelayMs', batching.maxDelayMs, { min: 0, max: 60_000 });
  const batcher = new PredictionBatcher(model, batching);
  app.setErrorHandler(replyWithError);
  app.setNotFoundHandler((request, reply) => replyWithError(httpError(404, 'ERR_ARGUMENT', `no route ${request.method} ${request.url.split('?')[0]}`), request, reply));
  if (options.token) {
    const token = options.token;
    app.addHook('onRequest', async (request) => {
      if (publicPaths.has(request.url.split('?')[0]) && request.method === 'GET') return;
      if (!bearerMatches(request.headers.authorization, token)) throw httpError(401, 'ERR_ARGUMENT', 'this server needs Authorization: Bearer <token>');
    });
  }
  await app.register(swagger, {
    openapi: {
      info: { title: 'seqsam serve', version: packageVersion(), description: 'SeqSAM: M plausible masks and where they disagree, from an embedded image and a box or points' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  apiRoutes(app, store, batcher, limits);
  pageRoutes(app);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.addHook('onClose', async () => {
    await batcher.close(); // before the embeddings its queued prompts use go
    store.clear();
  });
  return { app, store };
}

/** Builds the server and listens; close() stops it and drops its embeddings (not the model). */
export async function startServer(model: SeqSam, options: ServeOptions = {}): Promise<RunningServer> {
  const { app } = await createServer(model, options);
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 8080 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { app, url: `http://${shownHost}:${port}`, close: () => app.close() };
}
