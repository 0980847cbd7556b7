/**
 * The npm package as a user gets it: `pnpm pack` (whose prepack runs the build) writes the tarball,
 * a fresh project outside the workspace installs it (npm dependencies from the pnpm store where it
 * has them), and then: the tarball holds dist/ and nothing of the sources; the declarations import
 * no workspace package; an app's Vite build emits the engine's Worker as a file of its own; the
 * README's first example and test/package-app/run.mjs type-check against the installed
 * declarations; and run.mjs, in plain Node, generates the tiny checkpoint's golden greedy ids
 * through the installed bundle (WGSL included).
 */
import { execFile as execFileCallback } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { golden, GPU_TEST_TIMEOUT, serveFixture, type FixtureServer } from './helpers.ts';

const execFile = promisify(execFileCallback);
const ENGINE_DIR = join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const TSC = join(dirname(require.resolve('typescript/package.json')), 'bin/tsc');
const WEBGPU_VERSION = (JSON.parse(readFileSync(require.resolve('webgpu/package.json'), 'utf8')) as { version: string }).version;

/** What the installed package may import: its dependencies, its optional peer, Node's modules, its own files. */
const ALLOWED_IMPORTS = /^(comlink|idb-keyval|@huggingface\/tokenizers|@huggingface\/jinja|mpg123-decoder|wgsl_reflect\/wgsl_reflect\.module\.js|webgpu|node:[a-z_/]+|\.\/[\w-]+\.js)$/;

/** The first ```ts block of the README: the ten-line quick start. */
function readmeExample(): string {
  const block = /```ts\n([\s\S]*?)```/.exec(readFileSync(join(ENGINE_DIR, 'README.md'), 'utf8'));
  if (!block) throw new Error('README.md has no ```ts block');
  return block[1];
}

/** Static and dynamic import specifiers of a built module or declaration file. */
function imports(code: string): string[] {
  const found = code.matchAll(/^(?:import|export)\b[^'";]*?from\s*['"]([^'"]+)['"]|^import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm);
  return [...new Set([...found].map((m) => m[1] ?? m[2] ?? m[3]))];
}

async function run(command: string, args: string[], cwd: string): Promise<string> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  try {
    const { stdout } = await execFile(command, args, { cwd, env, maxBuffer: 64 * 2 ** 20 });
    return stdout;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`);
  }
}

describe('the packed @g3n/engine, installed in a fresh project', { timeout: GPU_TEST_TIMEOUT }, () => {
  let work: string;
  let app: string;
  let tarballFiles: string[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'g3n-engine-package-'));
    const started = Date.now();
    await run('pnpm', ['pack', '--pack-destination', work], ENGINE_DIR);
    expect(statSync(join(ENGINE_DIR, 'dist/index.js')).mtimeMs).toBeGreaterThanOrEqual(started);
    const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
    tarballFiles = (await run('tar', ['-tzf', tarball], work)).trim().split('\n').map((f) => f.replace(/^package\//, '')).sort();

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'g3n-engine-consumer', private: true, type: 'module' }));
    // dawn.node ships prebuilt in the webgpu package; its install script only matters on macOS.
    writeFileSync(join(app, 'pnpm-workspace.yaml'), 'allowBuilds:\n  webgpu: false\n');
    await run('pnpm', ['add', '--prefer-offline', tarball, `webgpu@${WEBGPU_VERSION}`], app);
  }, GPU_TEST_TIMEOUT);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds dist/ (ES modules, source maps, declarations), the README and package.json, and no sources or tests', () => {
    const required = ['README.md', 'dist/index.d.ts', 'dist/index.js', 'dist/index.js.map', 'dist/node.d.ts', 'dist/node.js', 'dist/node.js.map', 'dist/worker.js', 'dist/worker.js.map', 'package.json'];
    expect(required.filter((f) => !tarballFiles.includes(f))).toEqual([]);
    const chunks = tarballFiles.filter((f) => !required.includes(f));
    expect(chunks.filter((f) => !/^dist\/[\w-]+-[\w-]{8}\.js(\.map)?$/.test(f))).toEqual([]);
    expect(chunks.filter((f) => f.endsWith('.js')).length).toBeGreaterThanOrEqual(1);
    expect(tarballFiles.filter((f) => /(^|\/)(src|test)\/|\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('publishes its dist/ entries through exports, with only npm dependencies', () => {
    const installed = join(app, 'node_modules/@g3n/engine');
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.exports).toEqual({
      '.': { types: './dist/index.d.ts', import: './dist/index.js' },
      './node': { types: './dist/node.d.ts', import: './dist/node.js' },
      './package.json': './package.json',
    });
    expect(manifest).toMatchObject({ name: '@g3n/engine', type: 'module', license: 'Apache-2.0', sideEffects: ['./dist/worker.js'], files: ['dist', 'README.md'] });
    expect(manifest.private).toBeUndefined();
    expect(Object.keys(manifest.dependencies as object).sort()).toEqual(['@huggingface/jinja', '@huggingface/tokenizers', 'comlink', 'idb-keyval', 'mpg123-decoder', 'wgsl_reflect']);
    const modules = tarballFiles.filter((f) => f.endsWith('.js'));
    const bad = modules.flatMap((f) => imports(readFileSync(join(installed, f), 'utf8')).filter((s) => !ALLOWED_IMPORTS.test(s)).map((s) => `${f}: ${s}`));
    expect(bad).toEqual([]);
    for (const f of modules) {
      for (const s of imports(readFileSync(join(installed, f), 'utf8')).filter((s) => s.startsWith('./'))) expect(tarballFiles).toContain(`dist/${s.slice(2)}`);
    }
  });

  it('starts the Worker from its own file, which an app\'s Vite build emits as a file of its own', async () => {
    const index = readFileSync(join(app, 'node_modules/@g3n/engine/dist/index.js'), 'utf8');
    expect(index).toMatch(/new Worker\(new URL\((["'])\.\/worker\.js\1, import\.meta\.url\), \{\s*type: "module"/);
    const worker = readFileSync(join(app, 'node_modules/@g3n/engine/dist/worker.js'), 'utf8');
    expect(worker).toMatch(/\bexpose\(engineHost\(new InThreadEngine\(\)\)\)/);

    mkdirSync(join(app, 'web'));
    writeFileSync(join(app, 'web/index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n');
    writeFileSync(join(app, 'web/main.js'), "import { createEngine } from '@g3n/engine';\nglobalThis.engine = createEngine();\n");
    const build = `import { build } from ${JSON.stringify(pathToFileURL(require.resolve('vite')).href)};
await build({ root: 'web', configFile: false, logLevel: 'error', build: { outDir: '../web-dist', emptyOutDir: true } });`;
    await run(process.execPath, ['--input-type=module', '-e', build], app);
    const assets = readdirSync(join(app, 'web-dist/assets'));
    const workers = assets.filter((f) => /^worker-[\w-]+\.js$/.test(f));
    expect(workers).toHaveLength(1);
    const main = assets.find((f) => /^index-[\w-]+\.js$/.test(f))!;
    const mainCode = readFileSync(join(app, 'web-dist/assets', main), 'utf8');
    expect(mainCode).toContain(`/assets/${workers[0]}`);
    expect(readFileSync(join(app, 'web-dist/assets', workers[0]), 'utf8')).toContain('@compute @workgroup_size');
    // The page gets the API and the typed errors, not the model: no kernels, no tokenizer.
    expect(mainCode).not.toContain('@compute');
    expect(mainCode).not.toContain('InThreadEngine');
    expect(mainCode.length, `main bundle ${mainCode.length} bytes`).toBeLessThan(48 * 1024);
  });

  it('has declarations that name no workspace package', () => {
    const dist = join(app, 'node_modules/@g3n/engine/dist');
    const index = readFileSync(join(dist, 'index.d.ts'), 'utf8');
    expect(index).not.toContain('@g3n/');
    expect(imports(index)).toEqual(['comlink']);
    expect(index).toMatch(/^export declare class InThreadEngine implements Engine \{/m);
    expect(index).toMatch(/^export declare function createEngine\(options\?: CreateEngineOptions\): WorkerEngine;/m);
    expect(imports(readFileSync(join(dist, 'node.d.ts'), 'utf8'))).toEqual(['@g3n/engine']);
  });

  it("type-checks the README's first example and a Node program against the installed declarations", async () => {
    const example = readmeExample();
    expect(example.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
    writeFileSync(join(app, 'example.ts'), example);
    copyFileSync(join(ENGINE_DIR, 'test/package-app/run.mjs'), join(app, 'run.mjs'));
    writeFileSync(join(app, 'params.mjs'), 'export const model = "";\nexport const maxContext = 0;\nexport const maxTokens = 0;\nexport const promptTokenIds = [0];\n');
    const compilerOptions = {
      target: 'ES2022',
      module: 'ESNext',
      moduleResolution: 'Bundler',
      lib: ['ES2023', 'DOM', 'DOM.Iterable'],
      types: [],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      allowJs: true,
      checkJs: true,
    };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['example.ts', 'run.mjs'] }));
    expect(await run(process.execPath, [TSC, '-p', 'tsconfig.json'], app)).toBe('');
  });

  describe('in Node, on the software adapter', () => {
    let server: FixtureServer;
    beforeAll(async () => (server = await serveFixture()));
    afterAll(async () => server?.close());

    it('generates the golden greedy ids of gemma3n-tiny-a from the installed bundle', async () => {
      const params = { model: server.model, maxContext: 128, maxTokens: golden.generated_ids.length, promptTokenIds: golden.prompt_ids };
      writeFileSync(join(app, 'params.mjs'), Object.entries(params).map(([k, v]) => `export const ${k} = ${JSON.stringify(v)};\n`).join(''));
      copyFileSync(join(ENGINE_DIR, 'test/package-app/run.mjs'), join(app, 'run.mjs'));
      const out = await run(process.execPath, ['run.mjs'], app);
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ tokenIds: golden.generated_ids, finishReason: 'length' });
    });
  });
});
