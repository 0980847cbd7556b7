/**
 * The one-file script-tag build (vite.config.ts here bundles it as an IIFE, the engine Worker
 * inlined): defines <g3n-chat> and puts the engine API on window.g3n.
 *
 *   <script src="https://example.com/g3n-embed.js"></script>
 *   <g3n-chat model="https://example.com/models/tiny/" max-tokens="64"></g3n-chat>
 */
import type { WorkerEngine } from '@g3n/engine';
import { clearCache, deleteCachedModel, listCachedModels } from '@g3n/weights';
import { connectEngine, type EngineClient } from './client.ts';
import { defineG3nChat } from './element.ts';
import EngineWorker from './engine-worker.ts?worker&inline';
import { renderMarkdown } from './markdown-dom.ts';

export interface G3nGlobal {
  version: string;
  /**
   * A new engine in its own Worker: the @g3n/engine Engine interface (load, chat.completions.create,
   * interrupt, ...). Messages take the engine's content parts as they are: image_url, image (Blob,
   * ImageData, ImageBitmap, VideoFrame), input_audio (base64 WAV or MP3) and audio (Float32Array PCM).
   */
  createEngine(): WorkerEngine;
  /** The engine plus the Worker's settings (Hugging Face access token, load traffic). */
  connectEngine(): EngineClient;
  renderMarkdown: typeof renderMarkdown;
  listCachedModels: typeof listCachedModels;
  deleteCachedModel: typeof deleteCachedModel;
  clearCache: typeof clearCache;
  /** The <g3n-chat> element class. */
  G3nChat: CustomElementConstructor;
}

declare global {
  interface Window {
    g3n: G3nGlobal;
  }
}

const createWorker = () => new EngineWorker({ name: 'g3n-engine' });

window.g3n = {
  version: '0.1.0',
  createEngine: () => connectEngine(createWorker()).engine,
  connectEngine: () => connectEngine(createWorker()),
  renderMarkdown,
  listCachedModels,
  deleteCachedModel,
  clearCache,
  G3nChat: defineG3nChat(createWorker),
};
