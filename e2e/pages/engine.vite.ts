/**
 * Vite plugin: builds the engine e2e page (e2e/pages/engine.html + engine.ts) next to the demo and
 * serves it at /e2e/engine.html. The page lives outside Vite's root (demo/), so it is given a
 * virtual path under the root, <root>/e2e/, which maps back to e2e/pages/ for every module it
 * loads; its HTML is then emitted as dist/e2e/engine.html and `vite preview` serves it.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Plugin } from 'vite';

export function enginePage(pagesDir: string, urlDir = 'e2e'): Plugin {
  let root = '';
  const virtualDir = () => join(root, urlDir);
  const isVirtual = (id: string) => id.startsWith(`${virtualDir()}/`);
  const real = (id: string) => join(pagesDir, relative(virtualDir(), id));
  return {
    name: 'g3n-engine-e2e-page',
    apply: 'build',
    config(config) {
      root = resolve(config.root ?? '.');
      return { build: { rollupOptions: { input: { main: join(root, 'index.html'), 'e2e-engine': join(virtualDir(), 'engine.html') } } } };
    },
    resolveId(source, importer) {
      const [path, query] = source.split('?');
      const abs = isAbsolute(path) ? path : importer && path.startsWith('.') ? resolve(dirname(importer), path) : null;
      if (!abs || !isVirtual(abs)) return null;
      return abs.endsWith('.html') ? abs : real(abs) + (query ? `?${query}` : '');
    },
    load(id) {
      return isVirtual(id) && id.endsWith('.html') ? readFileSync(real(id), 'utf8') : null;
    },
  };
}
