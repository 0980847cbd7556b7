/**
 * The engine Worker of the demo and of <g3n-chat>: the engine's InThreadEngine, whose files come
 * from the engine's default source (the IndexedDB weights cache of @g3n/weights) with two additions:
 * the Hugging Face access token (sent only to huggingface.co) and a watcher of each load's traffic.
 * It is exposed with Comlink as the engine's own host (so the engine package's wrapEngine drives it)
 * plus the WorkerSettings.
 */
import { engineHost, InThreadEngine, modelFiles, registerErrorTransfer, type FileSourceRequest } from '@g3n/engine';
import { expose } from 'comlink';
import { authHeaders } from './auth.ts';
import type { Traffic, WorkerSettings } from './worker-api.ts';

let token: string | null = null;
let watcher: ((t: Traffic) => void) | null = null;

function files(model: string, request: FileSourceRequest) {
  const traffic: Traffic = { networkBytes: 0, cacheBytes: 0, notStoredBytes: 0 };
  const report = () => void Promise.resolve(watcher?.({ ...traffic })).catch(() => undefined);
  return modelFiles(model, request, {
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
