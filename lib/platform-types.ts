// Structural stand-ins for the platform types the public API takes, so that the published declarations
// compile in a TypeScript project without @types/node or the DOM library (a Node.js project with them
// passes the real objects: URL, AbortSignal and Buffer fit these shapes).

/** A `file:` URL, such as `new URL('file:///data/lidc.pickle')` or `new URL('./data/', import.meta.url)`. */
export interface FileUrl {
  readonly href: string;
  readonly protocol: string;
}

/** What long calls read from an AbortSignal (an `AbortController`'s signal fits). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  readonly reason?: unknown;
}
