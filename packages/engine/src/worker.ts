/**
 * The engine's dedicated module Worker: an InThreadEngine with its own WebGPU device, reading models
 * through the IndexedDB weights cache (files.ts), exposed to the page with Comlink (createEngine in
 * create.ts is the other side).
 */
import { expose } from 'comlink';
import { InThreadEngine } from './engine.ts';
import { registerErrorTransfer } from './errors.ts';
import { engineHost } from './host.ts';

registerErrorTransfer();
expose(engineHost(new InThreadEngine()));
