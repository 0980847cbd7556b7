/**
 * The browser bundles reach no Node-only module: from each browser entry point (the demo page and its
 * engine Worker, the embed package and its Worker, the engine and its Worker) every module reachable by
 * a value import (static, dynamic, re-export, or a Worker's `new URL(..., import.meta.url)`) is walked,
 * `@g3n/*` names resolved through their package.json "exports", and none may import `node:*` or a Node
 * builtin. Node code lives behind the `./node` entries (`@g3n/weights/node`, `@g3n/gpu/node`), which
 * only Node code imports. (Vite externalizes such imports with a warning each, and the page breaks if
 * one runs.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const ENTRIES = ['demo/src/main.ts', 'demo/src/engine-worker.ts', 'packages/embed/src/index.ts', 'packages/embed/src/engine-worker.ts', 'packages/engine/src/index.ts', 'packages/engine/src/worker.ts'];
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Value imports of a module's text: `import x from`, `import 'x'`, `export ... from`, `import('x')`, `new URL('x', import.meta.url)`; type-only ones are left out. */
function imports(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(/\b(import|export)\s+(type\s+)?([^'";]*?\bfrom\s*)?['"]([^'"]+)['"]/g)) if (!m[2]) out.push(m[4]);
  for (const m of code.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]);
  for (const m of code.matchAll(/\bnew URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g)) out.push(m[1]);
  return out;
}

/** A workspace package's entry file for `@g3n/<name>[/<sub>]`, from its package.json "exports". */
function workspaceEntry(spec: string): string {
  const [, name, sub] = /^@g3n\/([^/]+)(\/.*)?$/.exec(spec)!;
  const dir = join(ROOT, 'packages', name);
  const exportsMap = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, string> }).exports;
  const target = exportsMap[`.${sub ?? ''}`];
  if (typeof target !== 'string') throw new Error(`${spec} is not among the exports of packages/${name}`);
  return join(dir, target);
}

function resolveFile(from: string, spec: string): string | null {
  if (spec.startsWith('@g3n/')) return workspaceEntry(spec);
  if (!spec.startsWith('.')) return null;
  const path = resolve(dirname(from), spec.split('?')[0]);
  return [path, `${path}.ts`, join(path, 'index.ts')].find((p) => existsSync(p) && /\.(ts|mts|js|mjs)$/.test(p)) ?? null;
}

/** Every Node-only import reachable from `entry`, as `module -> import`. */
function nodeImports(entry: string): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  const queue = [join(ROOT, entry)];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of imports(readFileSync(file, 'utf8'))) {
      if (BUILTINS.has(spec)) found.push(`${relative(ROOT, file)} -> ${spec}`);
      const next = resolveFile(file, spec);
      if (next) queue.push(next);
    }
  }
  expect(seen.size, `${entry}: modules walked`).toBeGreaterThan(1);
  return found;
}

describe('browser entry points import no Node-only module', () => {
  it.each(ENTRIES)('%s', (entry) => {
    expect(nodeImports(entry)).toEqual([]);
  });

  it('the walker finds them where they are: the Node entries of weights and gpu', () => {
    expect(nodeImports('packages/weights/src/node.ts')).toEqual(expect.arrayContaining([expect.stringMatching(/node-source\.ts -> node:fs\/promises$/), expect.stringMatching(/node-sink\.ts -> node:crypto$/)]));
    expect(nodeImports('packages/gpu/src/node.ts').length).toBeGreaterThan(0);
  });
});
