/**
 * The engine Worker of the demo and of <g3n-chat>: the engine's InThreadEngine with checkpoint
 * files read through the IndexedDB weights cache (cached-files.ts), exposed with Comlink as the
 * engine's own host (so the engine package's wrapEngine drives it) plus the WorkerSettings: the
 * Hugging Face access token (sent only to huggingface.co) and a watcher of each load's traffic.
 */
import { engineHost, InThreadEngine, registerErrorTransfer } from '@g3n/engine';
import { expose } from 'comlink';
import { authHeaders } from './auth.ts';
import { cachedFileSource } from './cached-files.ts';
import type { Traffic, WorkerSettings } from './worker-api.ts';

let token: string | null = null;
let watcher: ((t: Traffic) => void) | null = null;

function files(model: string) {
  const traffic: Traffic = { networkBytes: 0, cacheBytes: 0, notStoredBytes: 0 };
  const report = () => void Promise.resolve(watcher?.({ ...traffic })).catch(() => undefined);
  return cachedFileSource(model, {
    headers: authHeaders(model, token),
    onRead(bytes, fromCache) {
      if (fromCache) traffic.cacheBytes += bytes;
      else traffic.networkBytes += bytes;
      report();
    },
    onNotStored(bytes) {
      traffic.notStoredBytes += bytes;
      report();
    },
  });
}

const settings: WorkerSettings = {
  setAccessToken: (t) => void (token = t || null),
  watchTraffic: (w) => void (watcher = w),
};

registerErrorTransfer();
expose({ ...engineHost(new InThreadEngine({ files })), ...settings });
