/** An unbounded queue between a producer (comlink callbacks) and one async consumer. */
export class Channel<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void } | null = null;
  private ended = false;
  private error: { e: unknown } | null = null;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiter) {
      this.waiter.resolve({ done: false, value: item });
      this.waiter = null;
    } else this.items.push(item);
  }

  /** No more items; the consumer gets what is queued, then the end. */
  end(): void {
    this.ended = true;
    this.waiter?.resolve({ done: true, value: undefined });
    this.waiter = null;
  }

  /** The consumer gets what is queued, then `e`. */
  fail(e: unknown): void {
    if (this.ended) return;
    this.error = { e };
    this.ended = true;
    this.waiter?.reject(e);
    this.waiter = null;
  }

  get closed(): boolean {
    return this.ended && this.items.length === 0;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.items.length > 0) return Promise.resolve({ done: false, value: this.items.shift()! });
    if (this.error) return Promise.reject(this.error.e);
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }
}
