/**
 * Test fixtures for the engine: the tiny Gemma 3n checkpoint served over a local HTTP server with
 * Range support (so loading goes through the real httpFileSource), its goldens, and engines on
 * the Node software adapter.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { requestNodeGpu } from '@g3n/gpu/node';
import type { Gpu } from '@g3n/gpu';
import { InThreadEngine } from '../src/engine.ts';
import type { ChatCompletionChunk } from '../src/types.ts';

export const TINY_DIR = join(import.meta.dirname, '../../../../shared/fixtures/gemma3n-tiny-a');
export const TOKENIZER_FILE = join(import.meta.dirname, '../../preprocess/test/fixtures/tiny-tokenizer.json');

/**
 * Timeout of a test that loads or runs the model: the software adapter shares two cores with
 * other work here, and a decode step of even the tiny model takes seconds when they are busy.
 */
export const GPU_TEST_TIMEOUT = 600_000;

export const golden = JSON.parse(readFileSync(join(TINY_DIR, 'golden.json'), 'utf8')) as { prompt_ids: number[]; generated_ids: number[] };
export const tokenizerJson = JSON.parse(readFileSync(TOKENIZER_FILE, 'utf8')) as object;

export interface FixtureServer {
  /** Base URL of the tiny checkpoint (config.json, model.safetensors, tokenizer.json). */
  model: string;
  /** The same checkpoint without tokenizer.json. */
  bare: string;
  close(): Promise<void>;
}

/** Serves /tiny/ (with tokenizer.json) and /bare/ (without) from the fixture folder. */
export async function serveFixture(): Promise<FixtureServer> {
  const { base, close } = await serveFiles({
    '/tiny/config.json': join(TINY_DIR, 'config.json'),
    '/tiny/model.safetensors': join(TINY_DIR, 'model.safetensors'),
    '/tiny/tokenizer.json': TOKENIZER_FILE,
    '/bare/config.json': join(TINY_DIR, 'config.json'),
    '/bare/model.safetensors': join(TINY_DIR, 'model.safetensors'),
  });
  return { model: `${base}tiny/`, bare: `${base}bare/`, close };
}

/** Serves the given files (URL path -> file path, or the bytes themselves) over HTTP with Range support. */
export async function serveFiles(files: Record<string, string | Uint8Array>): Promise<{ base: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const file = files[(req.url ?? '').split('?')[0]];
    if (!file) return void res.writeHead(404).end();
    const size = typeof file === 'string' ? statSync(file).size : file.length;
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const [start, end] = range ? [Number(range[1]), Math.min(Number(range[2]), size - 1)] : [0, size - 1];
    res.writeHead(range ? 206 : 200, {
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {}),
    });
    if (req.method === 'HEAD') res.end();
    else if (typeof file === 'string') createReadStream(file, { start, end }).pipe(res);
    else res.end(file.subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    base: `http://127.0.0.1:${port}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An in-thread engine on its own software-adapter device; `devices` lists every device it asked for. */
export function nodeEngine(): { engine: InThreadEngine; devices: Gpu[] } {
  const devices: Gpu[] = [];
  const engine = new InThreadEngine({
    requestGpu: async () => {
      const gpu = await requestNodeGpu();
      devices.push(gpu);
      return gpu;
    },
  });
  return { engine, devices };
}

export async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

export const tokenIds = (chunks: ChatCompletionChunk[]) => chunks.flatMap((c) => c.choices[0].token_ids);
export const text = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0].delta.content ?? '').join('');
