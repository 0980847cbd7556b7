import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '@g3n/gpu';
import type { InThreadEngine } from '../src/engine.ts';
import type { ChatCompletion } from '../src/types.ts';
import { collect, golden, GPU_TEST_TIMEOUT, nodeEngine, serveFixture, tokenIds, type FixtureServer } from './helpers.ts';

const P = golden.prompt_ids;
const G = golden.generated_ids;
const greedy = (max_tokens: number, prompt: number[]) => ({ messages: [], prompt_token_ids: prompt, max_tokens, temperature: 0 });

/** mulberry32: a seeded stream of uniforms in [0, 1), so the abort pattern is the same every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let server: FixtureServer;
let engine: InThreadEngine;
let gpu: Gpu;

describe('the engine under a queue of 100 requests with random aborts', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    server = await serveFixture();
    const made = nodeEngine();
    engine = made.engine;
    await engine.load({ model: server.model, maxContext: 64 });
    gpu = made.devices[0];
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('every request settles, the engine keeps answering, and GPU buffers return to the baseline', async () => {
    // Warm up both plan kinds (greedy and sampled) so that the baseline holds every buffer a request keeps.
    await engine.chat.completions.create(greedy(2, P.slice(0, 5)));
    await engine.chat.completions.create({ ...greedy(2, P.slice(0, 5)), temperature: 1, seed: 1 });
    const baseline = gpu.buffers.live;
    const random = seeded(18);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, async (_, i) => {
        const controller = new AbortController();
        const when = random();
        // Half aborted before they are sent, 35% while queued or running, 15% left alone (kept few so that
        // the test stays fast on the software adapter: each request that runs builds its prefill plan).
        if (when < 0.5) controller.abort();
        else if (when < 0.85) setTimeout(() => controller.abort(), Math.floor(random() * 300));
        const prompt = P.slice(0, 2 + (i % 3));
        const request = { ...greedy(1 + (i % 2), prompt), signal: controller.signal, ...(i % 2 ? { temperature: 0.8, seed: i } : {}) };
        if (i % 4 === 0) return collect(await engine.chat.completions.create({ ...request, stream: true }));
        return (await engine.chat.completions.create(request)) as ChatCompletion;
      }),
    );
    expect(outcomes).toHaveLength(100);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect((o.reason as { code?: string }).code, String(o.reason)).toBe('ABORTED');
    }
    const finished = outcomes.filter((o) => o.status === 'fulfilled').length;
    expect(finished, 'requests that ran to an end (length or abort)').toBeGreaterThan(0);
    // The engine still answers, exactly.
    const chunks = await collect(await engine.chat.completions.create({ ...greedy(G.length, P), stream: true }));
    expect(tokenIds(chunks)).toEqual(G);
    expect(gpu.buffers.live, `live GPU buffers (baseline ${baseline})`).toBe(baseline);
  });
});
