/** What engine-worker.ts exposes beside the engine host: the shape both sides of Comlink share. */

export interface Traffic {
  /** Bytes read over the network since the current load started. */
  networkBytes: number;
  /** Bytes read from the IndexedDB cache since the current load started. */
  cacheBytes: number;
  /** Bytes that could not be stored (storage full): the next load fetches them again. */
  notStoredBytes: number;
}

export interface WorkerSettings {
  /** A Hugging Face access token for gated repositories, or null. Sent only to https://huggingface.co. */
  setAccessToken(token: string | null): void;
  /** Called with the running totals after each read of a load; replaces the previous watcher. */
  watchTraffic(onTraffic: ((t: Traffic) => void) | null): void;
}
