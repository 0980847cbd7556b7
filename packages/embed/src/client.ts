/**
 * The page side of engine-worker.ts: the Engine (the engine package's wrapEngine over the Worker)
 * and the Worker's settings, both over Comlink on the same Worker.
 */
import { wrapEngine, type WorkerEngine } from '@g3n/engine';
import { proxy, wrap } from 'comlink';
import type { Traffic, WorkerSettings } from './worker-api.ts';

export type { Traffic } from './worker-api.ts';

export interface EngineClient {
  engine: WorkerEngine;
  /** Kept in the Worker's memory only; sent only with requests to https://huggingface.co. */
  setAccessToken(token: string | null): Promise<void>;
  watchTraffic(onTraffic: ((t: Traffic) => void) | null): Promise<void>;
}

/** Connect to a Worker running engine-worker.ts. */
export function connectEngine(worker: Worker): EngineClient {
  const settings = wrap<WorkerSettings>(worker);
  return {
    engine: wrapEngine(worker, () => worker.terminate()),
    setAccessToken: (token) => settings.setAccessToken(token),
    watchTraffic: (onTraffic) => settings.watchTraffic(onTraffic ? proxy(onTraffic) : null),
  };
}
