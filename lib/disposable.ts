// `using` support in the declarations: Tensor, models, predictions and caches implement Disposable. These
// declarations are the ones of TypeScript's `esnext.disposable` library (and of @types/node), repeated so
// that a project on the default libraries for Node.js 20 (ES2022/ES2023) type-checks without adding them;
// identical declarations merge with theirs where a project has them. Node.js 20 defines Symbol.dispose.
declare global {
  interface SymbolConstructor {
    /** The method `using` calls when a resource goes out of scope. */
    readonly dispose: unique symbol;
  }
  /** An object that releases what it holds when a `using` declaration goes out of scope. */
  interface Disposable {
    /** Releases the object's resources; calling it again does nothing. */
    [Symbol.dispose](): void;
  }
}

export {};
