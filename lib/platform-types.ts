// Structural stand-ins for the platform types the public API takes, so that the published declarations
// compile in a TypeScript project without @types/node or the DOM library (a Node.js project with them
// passes the real objects: URL, AbortSignal and Buffer fit these shapes).

/** A `file:` URL, such as `new URL('file:///data/lidc.pickle')` or `new URL('./data/', import.meta.url)`. */
export interface FileUrl {
  /** The whole URL, `file:///...`. */
  readonly href: string;
  /** Must be `'file:'`; other protocols are refused. */
  readonly protocol: string;
}

/** What long calls read from an AbortSignal (an `AbortController`'s signal fits). */
export interface AbortSignalLike {
  /** True once the operation should stop; long calls check it between steps and throw `ERR_ABORTED`. */
  readonly aborted: boolean;
  /** Why it was aborted; becomes the `cause` of the `ERR_ABORTED` error. */
  readonly reason?: unknown;
}

/** An AbortSignal as a stream reads it: its state and its 'abort' event (an `AbortController`'s signal fits). */
export interface AbortSignalEvents extends AbortSignalLike {
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Environment variables as `process.env` holds them. */
export type EnvironmentVariables = Readonly<Record<string, string | undefined>>;
