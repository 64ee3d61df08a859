// A promise with its resolve and reject at hand, for results that another loop produces.
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A rejection nobody awaits yet (a batch failing while its requests are between steps) is not unhandled.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** Wakes whoever waits on it: each notify() settles the current wait() and arms a fresh one. */
export class Wakeup {
  #current = deferred<void>();

  wait(): Promise<void> {
    return this.#current.promise;
  }

  notify(): void {
    const current = this.#current;
    this.#current = deferred<void>();
    current.resolve();
  }
}
