// Checkpoint metadata entries that hold JSON (the training setup, the trainer's position): parsed with
// errors that name the file and the entry, since a hand-edited or foreign file may hold anything there.
import { SeqsamError } from '../errors.js';

/**
 * The JSON object stored under `key` in a checkpoint's metadata, or undefined when the entry is absent
 * or empty. Text that is not JSON, or JSON that is not an object (`null`, a number), is ERR_CHECKPOINT
 * naming `path` and `key`.
 */
export function parseMetadataJson<T extends object>(path: string, metadata: Readonly<Record<string, string>>, key: string): T | undefined {
  const text = metadata[key];
  if (text === undefined || text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SeqsamError('ERR_CHECKPOINT', `${path}: metadata '${key}' is not JSON (${(error as Error).message})`, { cause: error });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SeqsamError('ERR_CHECKPOINT', `${path}: metadata '${key}' must be a JSON object (got ${text.length > 40 ? `${text.slice(0, 40)}…` : text})`);
  }
  return value as T;
}
