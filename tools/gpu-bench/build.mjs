// Bundle `pnpm bench` (packages/bench/src/main.ts) into one ES module for a machine with no
// node_modules: every workspace package, wgsl_reflect and the `webgpu` package's loader are
// inlined, WGSL is inlined by Vite's `?raw`, and only Node's built-in modules stay imports. The
// loader requires dist/<platform>-<arch>/dawn.node beside the bundle at run time.
//   node tools/gpu-bench/build.mjs <out dir>
import { resolve } from 'node:path';
import { build } from 'vite';

const root = resolve(import.meta.dirname, '../..');
const outDir = resolve(process.argv[2] ?? resolve(root, 'tools/gpu-bench/out'));

await build({
  root,
  configFile: false,
  logLevel: 'warn',
  ssr: { noExternal: true, target: 'node' },
  build: {
    ssr: resolve(root, 'packages/bench/src/main.ts'),
    outDir,
    emptyOutDir: false,
    target: 'node20',
    minify: false,
    sourcemap: false,
    rollupOptions: { output: { format: 'es', entryFileNames: 'bench.mjs', codeSplitting: false } },
  },
});
console.log(`bundled ${resolve(outDir, 'bench.mjs')}`);
