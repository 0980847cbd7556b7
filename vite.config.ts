import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { tinyModel } from './tools/vite-tiny-model.ts';

// The repository is cloned next to shared/, which holds the tiny fixture checkpoints.
const tinyModelDir = fileURLToPath(new URL('../shared/fixtures/gemma3n-tiny-a', import.meta.url));

export default defineConfig({
  root: 'demo',
  // No SPA fallback: a missing file (e.g. the tiny model) must be a 404, not index.html.
  appType: 'mpa',
  build: { outDir: '../dist', emptyOutDir: true },
  worker: { format: 'es' },
  server: { host: 'localhost', port: 5173 },
  preview: { host: 'localhost', port: 4173, strictPort: true },
  plugins: [tinyModel(tinyModelDir)],
});
