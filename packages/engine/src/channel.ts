/**
 * A one-reader stream of values: the generation loop pushes at GPU pace, the reader pulls at its
 * own. Leaving early (break in for-await, or return()) calls `onCancel`, which aborts generation.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly buffered: T[] = [];
  private waiting: { resolve: (r: IteratorResult<T, undefined>) => void; reject: (e: unknown) => void } | null = null;
  private closed = false;
  private error: { e: unknown } | null = null;

  constructor(private readonly onCancel: () => void) {}

  push(value: T): void {
    if (this.closed) return;
    if (this.waiting) {
      this.waiting.resolve({ value, done: false });
      this.waiting = null;
    } else this.buffered.push(value);
  }

  close(): void {
    this.closed = true;
    this.waiting?.resolve({ value: undefined, done: true });
    this.waiting = null;
  }

  fail(e: unknown): void {
    if (this.closed) return;
    this.error = { e };
    this.closed = true;
    this.waiting?.reject(e);
    this.waiting = null;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.buffered.length > 0) return Promise.resolve({ value: this.buffered.shift() as T, done: false });
    if (this.error) return Promise.reject(this.error.e);
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  return(): Promise<IteratorResult<T, undefined>> {
    if (!this.closed) this.onCancel();
    this.buffered.length = 0;
    this.closed = true;
    this.error = null;
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
