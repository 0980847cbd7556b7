import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokenizer } from '@g3n/preprocess';
import type { InThreadEngine } from '../src/engine.ts';
import type { ChatCompletionChunk, LoadProgress } from '../src/types.ts';
import { collect, golden, GPU_TEST_TIMEOUT, nodeEngine, serveFixture, text, tokenIds, tokenizerJson, type FixtureServer } from './helpers.ts';

const MAX_CONTEXT = 128;
const P = golden.prompt_ids;
const G = golden.generated_ids;

let server: FixtureServer;
let engine: InThreadEngine;
const progress: LoadProgress[] = [];

const greedy = (max_tokens: number, prompt = P) => ({ messages: [], prompt_token_ids: prompt, max_tokens, temperature: 0 });

describe('InThreadEngine on gemma3n-tiny-a', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    server = await serveFixture();
    engine = nodeEngine().engine;
    await engine.load({ model: server.model, maxContext: MAX_CONTEXT, onProgress: (p) => progress.push(p) });
  }, GPU_TEST_TIMEOUT);
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('reports load progress by phase and the model in capabilities()', async () => {
    // No IndexedDB in this process: plain HTTP, every weight byte a download.
    const phases = [...new Set(progress.map((p) => p.phase))];
    expect(phases).toEqual(['config', 'tokenizer', 'download', 'upload', 'compile', 'ready']);
    const download = progress.filter((p) => p.phase === 'download');
    expect(download.at(-1)).toMatchObject({ loadedBytes: 3_026_128, totalBytes: 3_026_128, loaded: 3_026_128, total: 3_026_128, etaSeconds: 0, fromCache: false });
    expect(progress.filter((p) => p.phase === 'compile').map((p) => p.loaded)).toEqual([0, 1, 2, 3]);
    const caps = await engine.capabilities();
    expect(caps.isSoftware).toBe(true);
    expect(caps.model).toMatchObject({ maxContext: MAX_CONTEXT, vocabSize: 1024, numLayers: 8, eosTokenIds: [1, 106] });
    expect(caps.model!.defaults).toEqual({ temperature: 0, top_k: 0, top_p: 1 });
    expect(caps.model!.memory.weightBytes).toBeGreaterThan(1_000_000);
    expect(caps.model!.memory.totalBytes).toBe(caps.model!.memory.weightBytes + caps.model!.memory.cacheBytes);
  });

  it('greedy streaming reproduces the golden generated ids', async () => {
    const chunks = await collect(await engine.chat.completions.create({ ...greedy(G.length), stream: true }));
    expect(tokenIds(chunks)).toEqual(G);
    expect(chunks[0].object).toBe('chat.completion.chunk');
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const last = chunks.at(-1)!;
    expect(last.choices[0].finish_reason).toBe('length');
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null && c.usage === undefined)).toBe(true);
    expect(last.usage).toMatchObject({ prompt_tokens: P.length, completion_tokens: G.length, total_tokens: P.length + G.length, prefilled_tokens: P.length });
    expect(last.usage!.time_to_first_token_ms).toBeGreaterThan(0);
    expect(last.usage!.prefill_tokens_per_s).toBeGreaterThan(0);
    expect(last.usage!.decode_tokens_per_s).toBeGreaterThan(0);
    const tok = Tokenizer.fromJSON(tokenizerJson);
    expect(text(chunks)).toBe(tok.decode(G, { skipSpecial: true }));
  });

  it('a repeated prompt reuses the cache and prefills only its last token', async () => {
    const r = await engine.chat.completions.create(greedy(3));
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].token_ids).toEqual(G.slice(0, 3));
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.usage.prefilled_tokens).toBe(1);
  });

  it('a follow-up turn prefills only its new tokens, and matches a cold prefill', async () => {
    const first = await engine.chat.completions.create(greedy(3));
    const g = first.choices[0].token_ids;
    const followUp = [...P, ...g, 106, 107, 105];
    // The cache holds the prompt and the first two answer tokens (the third was never fed).
    const warm = await engine.chat.completions.create(greedy(2, followUp));
    expect(warm.usage.prefilled_tokens).toBe(followUp.length - (P.length + 2));
    await engine.chat.completions.create(greedy(1, [2, 17, 18]));
    const cold = await engine.chat.completions.create(greedy(2, followUp));
    expect(cold.usage.prefilled_tokens).toBe(followUp.length - 1);
    expect(warm.choices[0].token_ids).toEqual(cold.choices[0].token_ids);
  });

  it('seeded sampling gives the same tokens for the same seed', async () => {
    const sampled = async (seed: number) =>
      (await engine.chat.completions.create({ messages: [], prompt_token_ids: P, max_tokens: 4, temperature: 1.5, top_k: 50, top_p: 0.95, seed })).choices[0].token_ids;
    const a = await sampled(7);
    const b = await sampled(7);
    const c = await sampled(8);
    expect(a).toHaveLength(4);
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
  });

  it('stops before a stop string, in the stream and in the completion', async () => {
    // A stop string that spans the text of the second and third golden tokens.
    const tok = Tokenizer.fromJSON(tokenizerJson);
    const content = tok.decode(G, { skipSpecial: true });
    const at = tok.decode(G.slice(0, 2), { skipSpecial: true }).length - 1;
    const stop = content.slice(at, at + 2);
    const want = content.slice(0, content.indexOf(stop));
    const r = await engine.chat.completions.create({ ...greedy(G.length), stop: ['@@never@@', stop] });
    expect(r.choices[0].finish_reason).toBe('stop');
    expect(r.choices[0].message.content).toBe(want);
    expect(r.choices[0].token_ids).toEqual(G.slice(0, 3));
    const chunks = await collect(await engine.chat.completions.create({ ...greedy(G.length), stop, stream: true }));
    expect(text(chunks)).toBe(want);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
    expect(tokenIds(chunks)).toEqual(G.slice(0, 3));
  });

  it('abort through the signal stops within one decode step; the next request completes', async () => {
    const controller = new AbortController();
    const stream = await engine.chat.completions.create({ ...greedy(G.length), stream: true, signal: controller.signal });
    const chunks: ChatCompletionChunk[] = [];
    let afterAbort = 0;
    for await (const c of stream) {
      chunks.push(c);
      if (controller.signal.aborted) afterAbort++;
      if (chunks.length === 3) controller.abort();
    }
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('abort');
    // At most the token of the step in flight, then the final chunk.
    expect(afterAbort).toBeLessThanOrEqual(2);
    expect(tokenIds(chunks)).toEqual(G.slice(0, tokenIds(chunks).length));
    const next = await engine.chat.completions.create(greedy(2));
    expect(next.choices[0].finish_reason).toBe('length');
    expect(next.choices[0].token_ids).toEqual(G.slice(0, 2));
  });

  it('interrupt() aborts the running request, and leaving a stream early frees the queue', async () => {
    const stream = await engine.chat.completions.create({ ...greedy(G.length), stream: true });
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of stream) {
      chunks.push(c);
      if (chunks.length === 2) await engine.interrupt();
    }
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('abort');
    const early = await engine.chat.completions.create({ ...greedy(G.length), stream: true });
    for await (const c of early) if (c.choices[0].token_ids.length) break;
    const after = await engine.chat.completions.create(greedy(2));
    expect(after.choices[0].token_ids).toEqual(G.slice(0, 2));
  });

  it('requests queue in order and never interleave', async () => {
    const log: string[] = [];
    const consume = async (name: string, stream: AsyncIterable<ChatCompletionChunk>) => {
      for await (const c of stream) if (c.choices[0].token_ids.length) log.push(name);
    };
    const a = await engine.chat.completions.create({ ...greedy(3), stream: true });
    const b = await engine.chat.completions.create({ ...greedy(3, [2, 40, 41]), stream: true });
    const c = engine.chat.completions.create(greedy(2));
    await Promise.all([consume('b', b), consume('a', a)]);
    expect(log).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
    expect((await c).choices[0].token_ids).toEqual(G.slice(0, 2));
  });

  it('rejects a request beyond the context before any GPU work, even while another runs', async () => {
    const running = await engine.chat.completions.create({ ...greedy(3), stream: true });
    const reader = collect(running);
    const err = await engine.chat.completions.create(greedy(MAX_CONTEXT - P.length + 1)).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ContextOverflowError', code: 'CONTEXT_OVERFLOW', details: { needed: MAX_CONTEXT + 1, max: MAX_CONTEXT } });
    let finished = false;
    void reader.then(() => (finished = true));
    await Promise.resolve();
    expect(finished).toBe(false);
    expect(tokenIds(await reader)).toEqual(G.slice(0, 3));
    await expect(engine.chat.completions.create({ messages: [], prompt_token_ids: Array(MAX_CONTEXT).fill(2) })).rejects.toMatchObject({ code: 'CONTEXT_OVERFLOW' });
  });

  it('chat messages go through the tokenizer and the Gemma turn format', async () => {
    const r = await engine.chat.completions.create({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hello there' }] },
      ],
      max_tokens: 2,
      temperature: 0,
    });
    const tok = Tokenizer.fromJSON(tokenizerJson);
    const prompt = tok.encode('<bos><start_of_turn>user\nBe brief.\n\nHello there<end_of_turn>\n<start_of_turn>model\n');
    expect(r.usage.prompt_tokens).toBe(prompt.length);
    const ids = r.choices[0].token_ids;
    const direct = await engine.chat.completions.create(greedy(2, prompt));
    expect(direct.choices[0].token_ids).toEqual(ids);
    expect(r.choices[0].message.content).toBe(direct.choices[0].message.content);
  });

  it('refuses image and audio parts, bad fields and unknown parts with typed errors', async () => {
    const image = { role: 'user' as const, content: [{ type: 'image_url' as const, image_url: { url: 'data:,' } }] };
    await expect(engine.chat.completions.create({ messages: [image] })).rejects.toMatchObject({ name: 'UnsupportedInputError', code: 'BAD_INPUT', details: { part: 'image' } });
    const audio = { role: 'user' as const, content: [{ type: 'audio' as const, audio: new Float32Array(16) }] };
    await expect(engine.chat.completions.create({ messages: [audio] })).rejects.toMatchObject({ name: 'UnsupportedInputError', details: { part: 'audio' } });
    await expect(engine.chat.completions.create({ ...greedy(2), temperature: -1 })).rejects.toMatchObject({ name: 'BadRequestError', details: { field: 'temperature' } });
    await expect(engine.chat.completions.create({ ...greedy(2), top_p: 0 })).rejects.toMatchObject({ name: 'BadRequestError', details: { field: 'top_p' } });
    await expect(engine.chat.completions.create({ ...greedy(2), prompt_token_ids: [5000] })).rejects.toMatchObject({ name: 'BadRequestError' });
  });
});
