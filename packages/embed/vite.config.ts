/**
 * The script-tag build: src/embed.ts as ONE self-contained IIFE file, the engine Worker inlined
 * (a blob: module Worker), written to dist/embed/g3n-embed.js of the repository so the demo's
 * server serves it. The root vite.config.ts runs this build after the demo's (vite-plugin.ts);
 * `pnpm --filter @g3n/embed build` runs it alone.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

export const EMBED_FILE = 'g3n-embed.js';

/**
 * The engine's createEngine() names its own Worker with new URL(..., import.meta.url), which makes
 * the bundler emit that Worker as a file even though the embed never calls createEngine (it starts
 * the inlined Worker instead). Drop every output but the one file, after checking it is unreferenced.
 */
function oneFile(): Plugin {
  return {
    name: 'g3n-embed-one-file',
    generateBundle(_options, bundle) {
      const main = bundle[EMBED_FILE];
      if (!main || main.type !== 'chunk') this.error(`the embed build produced no ${EMBED_FILE}`);
      for (const name of Object.keys(bundle)) {
        if (name === EMBED_FILE) continue;
        if (main.code.includes(name.split('/').pop()!)) this.error(`${EMBED_FILE} refers to ${name}: it would not be self-contained`);
        delete bundle[name];
      }
    },
  };
}

export default defineConfig({
  logLevel: 'warn',
  build: {
    lib: { entry: fileURLToPath(new URL('./src/embed.ts', import.meta.url)), formats: ['iife'], name: 'g3nEmbed', fileName: () => EMBED_FILE },
    outDir: fileURLToPath(new URL('../../dist/embed', import.meta.url)),
    emptyOutDir: true,
    copyPublicDir: false,
  },
  // One file: the Worker's lazily imported modules (the MP3 decoder) are inlined into it too, so an
  // MP3 works from a blob: Worker; they are still evaluated only on first use.
  worker: { format: 'es', rolldownOptions: { output: { codeSplitting: false } } },
  plugins: [oneFile()],
});
