import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules') return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.(ts|mjs|js)$/.test(e.name) ? [p] : [];
  });
}

describe('tests find their fixtures relative to the repository', () => {
  it('no test or spec names an absolute path to the fixtures', () => {
    const dirs = [...readdirSync(join(ROOT, 'packages')).map((p) => join(ROOT, 'packages', p, 'test')), join(ROOT, 'e2e')];
    const offenders: string[] = [];
    for (const dir of dirs) {
      let files: string[];
      try {
        files = sources(dir);
      } catch {
        continue;
      }
      for (const f of files) {
        readFileSync(f, 'utf8').split('\n').forEach((line, i) => {
          if (/['"`]\/[^'"`]*shared\/fixtures/.test(line)) offenders.push(`${f.slice(ROOT.length + 1)}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(offenders).toEqual([]);
  });
});
