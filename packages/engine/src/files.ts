/**
 * Where the engine reads a model from: a FileSource per load. By default the IndexedDB read-through
 * cache of @g3n/weights (cachedFileSource) wherever IndexedDB exists (a page, a Worker, Node with an
 * IndexedDB implementation) and the load allows it, so a second load, or a reload after a device
 * loss, reads every byte from the cache; plain HTTP Range reads otherwise.
 */
import { cachedFileSource, httpFileSource, type CachedFilesOptions, type FileSource, type ReadListener } from '@g3n/weights';

/** What the engine hands to the function that makes a load's FileSource. */
export interface FileSourceRequest {
  /** Call after each read with its size and whether it came from a cache: the load's download / cache progress. */
  onRead: ReadListener;
  /** Whether the load wants the IndexedDB cache (LoadOptions.cache, default true). */
  cache: boolean;
}

/**
 * The engine's default files for `model`. `init` adds request headers, a fetch, a cache store, and
 * hooks of the caller's own (its `onRead` is called after the engine's).
 */
export function modelFiles(model: string, request: FileSourceRequest, init: CachedFilesOptions = {}): FileSource {
  const onRead: ReadListener = (bytes, fromCache) => {
    request.onRead(bytes, fromCache);
    init.onRead?.(bytes, fromCache);
  };
  if (request.cache && typeof indexedDB !== 'undefined') return cachedFileSource(model, { ...init, onRead });
  return httpFileSource(model, { headers: init.headers, fetch: init.fetch, onRead });
}
