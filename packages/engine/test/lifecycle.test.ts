import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceLostError } from '@g3n/gpu';
import { CheckpointError } from '@g3n/weights';
import type { InThreadEngine } from '../src/engine.ts';
import { NotLoadedError } from '../src/errors.ts';
import { golden, GPU_TEST_TIMEOUT, nodeEngine, serveFixture, type FixtureServer } from './helpers.ts';

const P = golden.prompt_ids;
const G = golden.generated_ids;
const greedy = (max_tokens: number, prompt = P) => ({ messages: [], prompt_token_ids: prompt, max_tokens, temperature: 0 });

let server: FixtureServer;
let engine: InThreadEngine;
let devices: Awaited<ReturnType<typeof nodeEngine>>['devices'];

// One engine for the whole file, loaded with short prefill chunks: maxChunk 8 gives the sliding
// layers a ring of 16 + 8 - 1 = 23 slots, so a cache rewind may go back at most 8 tokens.
const loadOptions = () => ({ model: server.model, maxContext: 64, maxChunk: 8 });

describe('engine lifecycle', () => {
  beforeAll(async () => {
    server = await serveFixture();
    ({ engine, devices } = nodeEngine());
  });
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('calls before load() are typed errors; a checkpoint without tokenizer.json is refused', async () => {
    await expect(engine.chat.completions.create(greedy(1))).rejects.toBeInstanceOf(NotLoadedError);
    await expect(engine.chat.completions.create(greedy(1))).rejects.toMatchObject({ code: 'BAD_INPUT', details: { reason: 'not-loaded' } });
    const caps = await engine.capabilities();
    expect(caps.model).toBeNull();
    expect(caps.fits).toBeNull();
    const err = await engine.load({ model: server.bare }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect(err).toMatchObject({ code: 'BAD_CHECKPOINT', kind: 'missing-file' });
    expect((err as Error).message).toMatch(/tokenizer\.json not found.*load\(\{ tokenizer \}\)/);
  });

  it(
    'device loss: every call rejects with DEVICE_LOST until load() makes a new device',
    async () => {
      await engine.load(loadOptions());
      expect((await engine.chat.completions.create(greedy(2))).choices[0].token_ids).toEqual(G.slice(0, 2));
      devices[0].device.destroy();
      await devices[0].lost;
      for (const call of [() => engine.chat.completions.create(greedy(2)), () => engine.capabilities()]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DeviceLostError);
        expect(err).toMatchObject({ name: 'DeviceLostError', code: 'DEVICE_LOST' });
      }
      await engine.load({ ...loadOptions(), tokenizer: `${server.model}tokenizer.json` });
      expect(devices).toHaveLength(2);
      const r = await engine.chat.completions.create(greedy(4));
      expect(r.choices[0].token_ids).toEqual(G.slice(0, 4));
    },
    GPU_TEST_TIMEOUT,
  );

  it(
    'a load that fails keeps the model that was loaded: it still answers, and capabilities() still describes it',
    async () => {
      const before = (await engine.capabilities()).model;
      expect(before).not.toBeNull();
      const err = await engine.load({ model: server.bare }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'BAD_CHECKPOINT', kind: 'missing-file' });
      const missing = await engine.load({ model: `${server.model}nowhere/` }).catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: 'BAD_CHECKPOINT' });
      expect((await engine.capabilities()).model).toEqual(before);
      expect((await engine.chat.completions.create(greedy(2))).choices[0].token_ids).toEqual(G.slice(0, 2));
    },
    GPU_TEST_TIMEOUT,
  );

  it(
    'the cache is reused only when the sliding-window ring still holds the prefix',
    async () => {
      // Cache: 48 + 3 tokens. Keeping the first 40 would rewind 11, more than the ring allows: all 42 run again.
      const branch = [...P.slice(0, 40), 7, 8];
      const again = await engine.chat.completions.create(greedy(2, branch));
      expect(again.usage.prefilled_tokens).toBe(branch.length);
      // Cache: 42 + 1. A follow-up that keeps the 42 rewinds 1 token, within the ring: reused.
      const followUp = [...branch, 106, 107];
      const warm = await engine.chat.completions.create(greedy(2, followUp));
      expect(warm.usage.prefilled_tokens).toBe(2);
      await engine.chat.completions.create(greedy(1, [2, 3]));
      const fresh = await engine.chat.completions.create(greedy(2, followUp));
      expect(fresh.usage.prefilled_tokens).toBe(followUp.length - 1);
      expect(warm.choices[0].token_ids).toEqual(fresh.choices[0].token_ids);
    },
    GPU_TEST_TIMEOUT,
  );

  it(
    'a device lost mid-stream ends the stream with DEVICE_LOST',
    async () => {
      const stream = await engine.chat.completions.create({ ...greedy(G.length), stream: true });
      const seen: number[] = [];
      const err = await (async () => {
        for await (const c of stream) {
          seen.push(...c.choices[0].token_ids);
          if (seen.length === 2) devices[1].device.destroy();
        }
      })().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'DEVICE_LOST' });
      expect(seen.length).toBeLessThan(G.length);
      await expect(engine.chat.completions.create(greedy(1))).rejects.toMatchObject({ code: 'DEVICE_LOST' });
    },
    GPU_TEST_TIMEOUT,
  );
});
