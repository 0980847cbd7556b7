/**
 * Vite plugin for the root build: after the demo is written, build the one-file embed script into
 * `<outDir>/embed/` (vite.config.ts here), so `vite build` (and `pnpm start`) ship both.
 */
import { join, resolve } from 'node:path';
import { build, type Plugin } from 'vite';
import config from './vite.config.ts';

export function embedBuild(): Plugin {
  let outDir = '';
  return {
    name: 'g3n-embed-build',
    apply: 'build',
    configResolved(resolved) {
      outDir = resolve(resolved.root, resolved.build.outDir);
    },
    async closeBundle() {
      await build({ ...config, configFile: false, build: { ...config.build, outDir: join(outDir, 'embed') } });
    },
  };
}
