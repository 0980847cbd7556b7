import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import { embedBuild } from './packages/embed/vite-plugin.ts';
import { matformerFixture } from './tools/vite-matformer-fixture.ts';
import { tinyModel } from './tools/vite-tiny-model.ts';
import { enginePage } from './e2e/pages/engine.vite.ts';

// The repository is cloned next to shared/, which holds the tiny fixture checkpoints.
const tinyModelDir = fileURLToPath(new URL('../shared/fixtures/gemma3n-tiny-a', import.meta.url));
// The tiny MatFormer parent (15 layers) and its slicing configurations, for the size selector.
const tinyMatformerDir = fileURLToPath(new URL('../shared/fixtures/gemma3n-tiny-matformer', import.meta.url));
// The tokenizer made for the tiny model's 1024-token vocabulary, served as its tokenizer.json.
const tinyTokenizer = fileURLToPath(new URL('./packages/preprocess/test/fixtures/tiny-tokenizer.json', import.meta.url));
// Tiny multimodal checkpoints: a MobileNet-V5 vision tower (512-token vocabulary, its own tokenizer) and
// an audio conformer (the 1024-token layout, with the log-mel settings in preprocessor_config.json).
const tinyVisionDir = fileURLToPath(new URL('../shared/fixtures/gemma3n-tiny-vision-a', import.meta.url));
const tinyVisionTokenizer = fileURLToPath(new URL('./packages/preprocess/test/fixtures/tiny-tokenizer-512.json', import.meta.url));
// The tiny vision tower's processor resizes to 128 x 128 (it takes any size; its goldens use 512): on the
// software adapter an image then encodes in seconds, and it still gives 256 soft tokens.
const tinyVisionPreprocessor = fileURLToPath(new URL('./tools/tiny-vision-preprocessor.json', import.meta.url));
const tinyAudioDir = fileURLToPath(new URL('../shared/fixtures/gemma3n-tiny-audio-a', import.meta.url));

export default defineConfig({
  root: 'demo',
  // No SPA fallback: a missing file (e.g. the tiny model) must be a 404, not index.html.
  appType: 'mpa',
  build: { outDir: '../dist', emptyOutDir: true },
  worker: { format: 'es' },
  server: { host: 'localhost', port: 5173 },
  preview: { host: 'localhost', port: 4173, strictPort: true },
  plugins: [
    tinyModel(tinyModelDir, '/models/tiny/', { 'tokenizer.json': tinyTokenizer }),
    tinyModel(tinyMatformerDir, '/models/tiny-matformer/', { 'tokenizer.json': tinyTokenizer }),
    tinyModel(tinyVisionDir, '/models/tiny-vision/', { 'tokenizer.json': tinyVisionTokenizer, 'preprocessor_config.json': tinyVisionPreprocessor }),
    tinyModel(tinyAudioDir, '/models/tiny-audio/', { 'tokenizer.json': tinyTokenizer, 'preprocessor_config.json': `${tinyAudioDir}/preprocessor_config.json` }),
    matformerFixture(tinyMatformerDir),
    // The engine e2e page (/e2e/engine.html) only in builds for the e2e tests (playwright.config.ts
    // sets G3N_E2E_PAGES=1 for the server it starts): a plain `pnpm build` ships no test page.
    ...(process.env.G3N_E2E_PAGES === '1' ? [enginePage(fileURLToPath(new URL('./e2e/pages', import.meta.url)))] : []),
    // The installable, offline demo: the service worker precaches the app shell and the engine
    // Worker; model weights stay in IndexedDB (the weights cache), so models/ is left out, as are
    // the e2e pages, the embed script (served for other sites) and the engine's default Worker
    // (assets/worker-*: createEngine's, which the demo does not start; its own is engine-worker-*).
    VitePWA({
      registerType: 'prompt',
      injectRegister: false,
      manifest: {
        name: 'g3n: Gemma 3n on WebGPU',
        short_name: 'g3n',
        description: "Google's Gemma 3n in your browser on WebGPU: private, and offline once a model is loaded.",
        theme_color: '#1a5fd0',
        background_color: '#121215',
        display: 'standalone',
        start_url: '.',
        scope: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      workbox: {
        globPatterns: ['**/*.{html,js,css,svg,png,webmanifest}'],
        globIgnores: ['models/**', 'embed/**', 'e2e/**', 'assets/e2e-*', 'assets/worker-*'],
        // `?model=tiny` and other query strings open the same cached page.
        ignoreURLParametersMatching: [/.*/],
        maximumFileSizeToCacheInBytes: 8 * 2 ** 20,
        cleanupOutdatedCaches: true,
      },
    }),
    embedBuild(),
  ],
});
