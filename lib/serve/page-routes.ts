// The interactive page: three static files, read once at start and served from memory, under a
// Content-Security-Policy that allows nothing from elsewhere.
import { readFileSync } from 'node:fs';

import type { FastifyInstance } from 'fastify';

const pageFolder = new URL('./page/', import.meta.url);
const files: Record<string, string> = { 'index.html': 'text/html; charset=utf-8', 'page.css': 'text/css; charset=utf-8', 'page.js': 'text/javascript; charset=utf-8' };
const policy = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Paths served without a token (they hold no data and reach no model). */
export const publicPaths = new Set(['/', '/page/page.css', '/page/page.js']);

export function pageRoutes(app: FastifyInstance): void {
  const contents = Object.fromEntries(Object.keys(files).map((name) => [name, readFileSync(new URL(name, pageFolder))]));
  const send = (name: string) => ({
    schema: { hide: true },
    handler: async (_request: unknown, reply: import('fastify').FastifyReply) =>
      reply.header('content-type', files[name]).header('content-security-policy', policy).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(contents[name]),
  });
  app.get('/', send('index.html'));
  app.get('/page/page.css', send('page.css'));
  app.get('/page/page.js', send('page.js'));
}
