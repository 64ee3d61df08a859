// Every error answers as { code, message } with one of the package's error codes: the request's fault is
// 4xx, the server's 5xx. Errors fastify raises itself (bad JSON, schema, body size, media type) are mapped
// onto the same shape.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { SeqsamError, isSeqsamError, type ErrorCode } from '../errors.js';

/** A SeqsamError with the HTTP status it answers with (e.g. 404 for an unknown id). */
export function httpError(status: number, code: ErrorCode, message: string): SeqsamError {
  return Object.assign(new SeqsamError(code, message), { statusCode: status });
}

const statusOfCode: Partial<Record<ErrorCode, number>> = {
  ERR_ARGUMENT: 400,
  ERR_SHAPE: 400,
  ERR_DATA: 400,
  ERR_IO: 400,
  ERR_ABORTED: 503,
  ERR_OUT_OF_MEMORY: 503,
  ERR_DISPOSED: 503,
};

// Names the field at fault as a client would write it: box[2], points[0][1].
function validationMessage(issue: { instancePath?: string; message?: string; params?: Record<string, unknown> }): string {
  const path = (issue.instancePath ?? '').split('/').filter(Boolean);
  const field = path.map((part, i) => (/^\d+$/.test(part) ? `[${part}]` : i === 0 ? part : `.${part}`)).join('') || 'body';
  const extra = issue.params?.additionalProperty;
  if (extra) return `${field === 'body' ? '' : `${field}.`}${String(extra)} is not a field of this request`;
  return `${field} ${issue.message ?? 'is invalid'}`;
}

export function errorBody(error: unknown): { status: number; body: { code: ErrorCode; message: string } } {
  const e = error as FastifyError & { statusCode?: number };
  if (isSeqsamError(error)) {
    return { status: e.statusCode ?? statusOfCode[error.code] ?? 500, body: { code: error.code, message: error.message } };
  }
  if (e?.validation) return { status: 400, body: { code: 'ERR_ARGUMENT', message: validationMessage(e.validation[0]) } };
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    // malformed JSON, body too large, wrong content type, ...
    return { status: e.statusCode, body: { code: 'ERR_ARGUMENT', message: e.message } };
  }
  return { status: 500, body: { code: 'ERR_NATIVE', message: (e as Error)?.message ?? String(error) } };
}

export function replyWithError(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body } = errorBody(error);
  if (status >= 500) request.log.error({ err: error }, body.message);
  void reply.code(status).send(body);
}
