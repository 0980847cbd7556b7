/**
 * Type declarations of the npm build. The repository's TypeScript emits .d.ts files for the engine
 * and the workspace packages it bundles (tsconfig.build.json); API Extractor then rolls each entry
 * into one dist/<entry>.d.ts. The workspace packages are reached through `paths`, so API Extractor
 * takes them for this package's own files and inlines what the API uses; npm dependencies stay
 * imports. API Extractor runs on its own TypeScript (it needs the JS API, which TypeScript 7's
 * native compiler does not have).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig, ExtractorLogLevel, type ExtractorMessage } from '@microsoft/api-extractor';
import type { Plugin } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** The workspace packages bundled into the build, by import specifier, and the emitted file that declares each. */
const BUNDLED: Record<string, string> = {
  '@g3n/gpu': 'gpu/src/index.d.ts',
  '@g3n/gpu/node': 'gpu/src/node.d.ts',
  '@g3n/kernels': 'kernels/src/index.d.ts',
  '@g3n/gemma3n': 'gemma3n/src/index.d.ts',
  '@g3n/weights': 'weights/src/index.d.ts',
  '@g3n/preprocess': 'preprocess/src/index.d.ts',
  '@g3n/gpu/errors': 'gpu/src/errors.d.ts',
  '@g3n/gemma3n/errors': 'gemma3n/src/errors.d.ts',
  '@g3n/weights/errors': 'weights/src/typed-errors.d.ts',
  '@g3n/preprocess/errors': 'preprocess/src/errors.d.ts',
};

interface Manifest {
  name: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
}

function emitDeclarations(outDir: string): void {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', here('./tsconfig.build.json'), '--outDir', outDir], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${run.stdout}${run.stderr}`);
}

/**
 * Entries after the first import the package's own API by name (`@g3n/engine`), so that their
 * types are the very ones of index.d.ts: the rolled-up index.d.ts is installed under that name
 * beside the emitted files, and a package.json there keeps TypeScript from resolving the name to
 * the engine's sources.
 */
function installBuiltIndex(declarationDir: string, name: string): void {
  writeFileSync(join(declarationDir, 'package.json'), JSON.stringify({ name: 'declarations', private: true }));
  const dir = join(declarationDir, 'node_modules', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, types: 'index.d.ts' }));
  copyFileSync(here('./dist/index.d.ts'), join(dir, 'index.d.ts'));
}

function rollUp(entry: string, declarationDir: string, log: (m: ExtractorMessage) => void): void {
  const entryFile = join(declarationDir, `engine/src/${entry}.d.ts`);
  const config = ExtractorConfig.prepare({
    configObject: {
      projectFolder: here('.'),
      mainEntryPointFilePath: entryFile,
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            target: 'ES2022',
            module: 'ESNext',
            moduleResolution: 'Bundler',
            lib: ['ES2023', 'DOM', 'DOM.Iterable'],
            types: [],
            strict: true,
            allowImportingTsExtensions: true,
            noEmit: true,
            paths: Object.fromEntries(Object.entries(BUNDLED).map(([name, file]) => [name, [join(declarationDir, file)]])),
          },
          files: [entryFile],
        },
      },
      apiReport: { enabled: false },
      docModel: { enabled: false },
      tsdocMetadata: { enabled: false },
      dtsRollup: { enabled: true, untrimmedFilePath: here(`./dist/${entry}.d.ts`) },
      messages: {
        compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Warning } },
        extractorMessageReporting: {
          default: { logLevel: ExtractorLogLevel.Warning },
          // The workspace packages' types are inlined without being exported: that is the point.
          'ae-forgotten-export': { logLevel: ExtractorLogLevel.None },
          'ae-missing-release-tag': { logLevel: ExtractorLogLevel.None },
        },
        tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: here('./package.json'),
  });
  const result = Extractor.invoke(config, { localBuild: true, messageCallback: log });
  if (!result.succeeded || result.warningCount > 0) {
    throw new Error(`API Extractor failed on ${entry}.d.ts (${result.errorCount} errors, ${result.warningCount} warnings)`);
  }
}

/** The packages a declaration file imports or references (`@scope/name` or `name`). */
export function importedPackages(dts: string): string[] {
  const specifiers = [...dts.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]|<reference types=['"]([^'"]+)['"]/g)];
  return specifiers.map((m) => m[1] ?? m[2] ?? m[3]).map((s) => s.split('/').slice(0, s.startsWith('@') ? 2 : 1).join('/'));
}

/** After the JS build: dist/<entry>.d.ts for each entry (index first), checked to import only what the package declares. */
export function declarations({ entries }: { entries: readonly string[] }): Plugin {
  return {
    name: 'g3n-engine-declarations',
    apply: 'build',
    closeBundle() {
      const manifest = JSON.parse(readFileSync(here('./package.json'), 'utf8')) as Manifest;
      const allowed = new Set([manifest.name, ...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
      const declarationDir = mkdtempSync(here('./dist/.declarations-'));
      const log = (m: ExtractorMessage) => {
        m.handled = true;
        if (m.logLevel === ExtractorLogLevel.Warning || m.logLevel === ExtractorLogLevel.Error) this.warn(`${m.messageId}: ${m.text} (${m.sourceFilePath ?? ''}:${m.sourceFileLine ?? ''})`);
      };
      try {
        emitDeclarations(declarationDir);
        for (const [i, entry] of entries.entries()) {
          if (i === 1) installBuiltIndex(declarationDir, manifest.name);
          rollUp(entry, declarationDir, log);
          const unknown = importedPackages(readFileSync(here(`./dist/${entry}.d.ts`), 'utf8')).filter((p) => !allowed.has(p));
          if (unknown.length > 0) this.error(`dist/${entry}.d.ts imports ${[...new Set(unknown)].join(', ')}, which the package does not depend on`);
        }
      } finally {
        rmSync(declarationDir, { recursive: true, force: true });
      }
    },
  };
}
