// Who may talk to the server. On a loopback address only this machine can; anywhere else a token is
// required, and then every API request must carry it as `Authorization: Bearer <token>`. The page's own
// static files (no data, no model) load without it: a browser cannot add the header to a navigation, so
// the page reads the token from the URL fragment (never sent to the server) and sends it on API calls.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

import { SeqsamError } from '../errors.js';

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Refuses a non-loopback host without a token (ERR_ARGUMENT naming --host and --token). */
export function checkExposure(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < 16) throw new SeqsamError('ERR_ARGUMENT', '--token must be at least 16 characters');
  if (!isLoopback(host) && !token) {
    throw new SeqsamError('ERR_ARGUMENT', `--host ${host} is reachable from other machines: give --token (or set SEQSAM_TOKEN); every request must then carry it`);
  }
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/** Whether an Authorization header carries the token (compared in constant time). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]), digest(token));
}
