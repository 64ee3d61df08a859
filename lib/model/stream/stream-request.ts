// Checks the shape of a stream request before any work is spent on it. Coordinates are checked against
// the image once its size is known (packPrompts), with the same messages as predict.
import { SeqsamError } from '../../errors.js';
import type { Box, Point } from '../prompts.js';
import { checkNumMasks } from '../../validate.js';
import type { StreamRequest } from './types.js';

/** A prompt ready for a decoder batch: what decides which other prompts it can share a native call with. */
export interface DecoderPrompt {
  box?: Box;
  points?: Point[];
  pointLabels?: number[];
  numMasks: number;
  // what lets two requests share a decoder call besides sizes and M: box, N points, or both
  promptKind: string;
}

export interface CheckedRequest extends DecoderPrompt {
  request: StreamRequest;
}

/** The prompt kind two requests must share to be decoded together: box, N points, or both. */
export function promptKindOf(box: Box | undefined, points: Point[] | undefined): string {
  return [box ? 'box' : '', points ? `points${points.length}` : ''].filter(Boolean).join('+');
}

const known = new Set(['image', 'box', 'points', 'pointLabels', 'numMasks']);

export function checkStreamRequest(field: string, value: unknown): CheckedRequest {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SeqsamError('ERR_ARGUMENT', `${field} must be an object { image, box | points, numMasks } (got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value})`);
  }
  const request = value as StreamRequest;
  for (const key of Object.keys(request)) {
    if (!known.has(key)) throw new SeqsamError('ERR_ARGUMENT', `${field}.${key} is not a request field (known: ${[...known].join(', ')})`);
  }
  if (request.image === undefined) throw new SeqsamError('ERR_ARGUMENT', `${field}.image is missing`);
  const { box, points } = request;
  if (box === undefined && points === undefined) throw new SeqsamError('ERR_ARGUMENT', `${field}: give a box or points`);
  if (box !== undefined && !Array.isArray(box)) throw new SeqsamError('ERR_ARGUMENT', `${field}.box must be [x0, y0, x1, y1]`);
  if (points !== undefined && (!Array.isArray(points) || points.length === 0)) throw new SeqsamError('ERR_ARGUMENT', `${field}.points must be a non-empty array of [x, y]`);
  if (request.pointLabels !== undefined && points === undefined) throw new SeqsamError('ERR_ARGUMENT', `${field}.pointLabels given without points`);
  if (request.pointLabels !== undefined && !Array.isArray(request.pointLabels)) throw new SeqsamError('ERR_ARGUMENT', `${field}.pointLabels must be an array`);
  const numMasks = checkNumMasks(`${field}.numMasks`, request.numMasks ?? 4);
  const pointLabels = points ? (request.pointLabels ?? points.map(() => 1)) : undefined;
  const promptKind = promptKindOf(box, points);
  return { request, box, points, pointLabels, numMasks, promptKind };
}
