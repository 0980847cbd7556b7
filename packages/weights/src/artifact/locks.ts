/**
 * Exclusive locks by name, so two tabs (or two loads in one page) download each shard once: the second
 * waits for the first, then finds the shard complete in the cache. Web Locks (navigator.locks) where the
 * platform has them; an in-process queue otherwise (Node, old browsers), which covers loads in one realm.
 */
export interface LockManagerLike {
  request<T>(name: string, options: { signal?: AbortSignal }, callback: () => Promise<T>): Promise<T>;
}

/** A lock manager for one JS realm: a promise chain per name. */
export function localLocks(): LockManagerLike {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async request<T>(name: string, options: { signal?: AbortSignal }, callback: () => Promise<T>): Promise<T> {
      const before = tails.get(name) ?? Promise.resolve();
      let release = () => {};
      const mine = new Promise<void>((r) => (release = r));
      const tail = before.then(() => mine);
      tails.set(name, tail);
      try {
        await before;
        options.signal?.throwIfAborted();
        return await callback();
      } finally {
        release();
        if (tails.get(name) === tail) tails.delete(name);
      }
    },
  };
}

let fallback: LockManagerLike | null = null;

/** navigator.locks when present, else a realm-local lock manager. */
export function defaultLocks(): LockManagerLike {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  if (nav?.locks && typeof nav.locks.request === 'function') return nav.locks;
  return (fallback ??= localLocks());
}

export function withLock<T>(locks: LockManagerLike, name: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return locks.request(name, signal ? { signal } : {}, fn);
}
