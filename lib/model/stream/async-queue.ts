// A bounded hand-over between a writer and an async iterator: push() resolves once the item is taken
// into the queue (at most `capacity` wait), which is how a writable side passes on backpressure.
import { deferred, type Deferred } from './deferred.js';

export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  readonly #spaceWaiters: Deferred<void>[] = [];
  #itemWaiter: Deferred<void> | null = null;
  #closed = false;

  constructor(readonly capacity = 1) {}

  async push(item: T): Promise<void> {
    while (this.#items.length >= this.capacity && !this.#closed) {
      const waiter = deferred<void>();
      this.#spaceWaiters.push(waiter);
      await waiter.promise;
    }
    if (this.#closed) return;
    this.#items.push(item);
    this.#wakeReader();
  }

  /** No more items: the iterator ends once the queue is empty. */
  close(): void {
    this.#closed = true;
    this.#wakeReader();
    for (const waiter of this.#spaceWaiters.splice(0)) waiter.resolve();
  }

  #wakeReader(): void {
    const waiter = this.#itemWaiter;
    this.#itemWaiter = null;
    waiter?.resolve();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.#items.length > 0) {
        const item = this.#items.shift()!;
        this.#spaceWaiters.shift()?.resolve();
        yield item;
        continue;
      }
      if (this.#closed) return;
      this.#itemWaiter = deferred<void>();
      await this.#itemWaiter.promise;
    }
  }
}
