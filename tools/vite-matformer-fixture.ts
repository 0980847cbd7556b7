/**
 * Vite plugin: a MatFormer parent's configurations for the demo's size selector, read at build time.
 * `import fixture from 'virtual:g3n-tiny-matformer'` gives `{ config, slices }`: the parent's
 * config.json and every slicing configuration of its `slices/*.json` (sorted by file name), or null
 * when the folder or its config is missing (the build then has no such model, as with tinyModel).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plugin } from 'vite';

const ID = 'virtual:g3n-tiny-matformer';
const RESOLVED = `\0${ID}`;

function readFixture(dir: string): { config: unknown; slices: unknown[] } | null {
  const config = join(dir, 'config.json');
  if (!existsSync(config)) return null;
  const folder = join(dir, 'slices');
  const files = existsSync(folder) ? readdirSync(folder).filter((f) => f.endsWith('.json')).sort() : [];
  return {
    config: JSON.parse(readFileSync(config, 'utf8')),
    slices: files.map((f) => JSON.parse(readFileSync(join(folder, f), 'utf8'))),
  };
}

export function matformerFixture(dir: string): Plugin {
  return {
    name: 'g3n-matformer-fixture',
    resolveId: (id) => (id === ID ? RESOLVED : null),
    load(id) {
      if (id !== RESOLVED) return null;
      const fixture = readFixture(dir);
      if (fixture) {
        this.addWatchFile(join(dir, 'config.json'));
        if (existsSync(join(dir, 'slices'))) this.addWatchFile(join(dir, 'slices'));
      }
      return `export default ${JSON.stringify(fixture)};`;
    },
  };
}
