/**
 * The npm build of @g3n/engine (`pnpm --filter @g3n/engine build`), written to dist/:
 * - index.js (the API), worker.js (the Worker that createEngine starts) and node.js (a Dawn device
 *   for Node), ES modules with source maps. The workspace packages and the WGSL shaders are bundled
 *   in; the npm dependencies of package.json stay imports. Shared code goes to chunks beside them.
 * - index.d.ts and node.d.ts: declarations with the workspace packages' types inlined
 *   (declarations.ts).
 * In the repository the sources are used directly (package.json `exports`); `publishConfig`
 * switches the packed package to dist/.
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { declarations } from './declarations.ts';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const manifest = JSON.parse(readFileSync(here('./package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
};
const external = [...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)];
const isExternal = (id: string) =>
  id.startsWith('node:') || builtinModules.includes(id) || external.some((name) => id === name || id.startsWith(`${name}/`));

const SOURCE_URL = "new URL('./worker.ts', import.meta.url)";
const BUILT_URL = "new URL('./worker.js', import.meta.url)";
/** How the built index.js starts the Worker, whichever quotes the output has. */
const BUILT_WORKER = /new Worker\(new URL\((["'])\.\/worker\.js\1, import\.meta\.url\), \{/;
/**
 * As long as both URL expressions, so that swapping it in and out moves no column: the source maps
 * stay exact without being rewritten (the transforms return `map: null`).
 */
const PLACEHOLDER = '__g3nEngineWorkerUrl'.padEnd(SOURCE_URL.length, '_');

/**
 * createEngine starts `new Worker(new URL('./worker.ts', import.meta.url), ...)`. Left alone, Vite
 * would bundle that Worker into this build; the package ships worker.js as an entry of its own and
 * leaves `new URL('./worker.js', import.meta.url)` to the bundler of the app that installs it. The
 * expression is a placeholder while Vite transforms create.ts and is written back into the chunk.
 */
function workerEntryUrl(): Plugin {
  return {
    name: 'g3n-engine-worker-url',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('/engine/src/create.ts')) return null;
      if (!code.includes(`new Worker(${SOURCE_URL}`)) this.error(`create.ts no longer starts its Worker with new Worker(${SOURCE_URL}): update the package build`);
      return { code: code.replaceAll(`new Worker(${SOURCE_URL}`, `new Worker(${PLACEHOLDER}`), map: null };
    },
    renderChunk(code) {
      return code.includes(PLACEHOLDER) ? { code: code.replaceAll(PLACEHOLDER, BUILT_URL), map: null } : null;
    },
    generateBundle(_options, bundle) {
      // The source maps took the placeholder for create.ts's own text: put the source back.
      for (const file of Object.values(bundle)) {
        if (file.type === 'asset' && file.fileName.endsWith('.map') && typeof file.source === 'string') file.source = file.source.replaceAll(PLACEHOLDER, SOURCE_URL);
      }
      const index = bundle['index.js'];
      if (index?.type !== 'chunk' || !BUILT_WORKER.test(index.code)) this.error(`index.js must start its Worker with new Worker(${BUILT_URL}, ...)`);
    },
  };
}

export default defineConfig({
  logLevel: 'warn',
  build: {
    lib: {
      entry: { index: here('./src/index.ts'), worker: here('./src/worker.ts'), node: here('./src/node.ts') },
      formats: ['es'],
    },
    outDir: here('./dist'),
    emptyOutDir: true,
    copyPublicDir: false,
    sourcemap: true,
    minify: false,
    target: 'es2022',
    rolldownOptions: {
      external: isExternal,
      output: {
        entryFileNames: '[name].js',
        chunkFileNames: '[name]-[hash].js',
        // The typed errors get a chunk of their own: createEngine needs them on the page, and they
        // must not bring the model, kernels and tokenizer code of the Worker with them.
        codeSplitting: { groups: [{ name: 'errors', test: /[\\/]packages[\\/][a-z0-9]+[\\/]src[\\/](artifact[\\/])?(typed-)?errors\.ts$/ }] },
      },
    },
  },
  plugins: [workerEntryUrl(), declarations({ entries: ['index', 'node'] })],
});
