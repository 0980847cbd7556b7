/**
 * An out-of-memory error during load: the device's out-of-memory error scope reports one (made
 * here by a device whose next 'out-of-memory' scope pops a GPUOutOfMemoryError-like error, as a
 * browser's does when an allocation fails). load() rejects with OutOfMemoryError, the model it
 * built is destroyed and so is the device (nothing the load allocated stays), and the next load
 * succeeds on a new device.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Gpu } from '@g3n/gpu';
import { requestNodeGpu } from '@g3n/gpu/node';
import { InThreadEngine } from '../src/engine.ts';
import { NotLoadedError, OutOfMemoryError } from '../src/errors.ts';
import { golden, GPU_TEST_TIMEOUT, serveFixture, type FixtureServer } from './helpers.ts';

/** A device's live buffers, whether it was destroyed, and a switch that makes its next 'out-of-memory' scope report an allocation failure. */
interface Watched {
  live: Set<GPUBuffer>;
  created: number;
  destroyed: boolean;
  failNextOutOfMemoryScope(): void;
}

function watch(gpu: Gpu): Watched {
  const device = gpu.device;
  const w: Watched = { live: new Set(), created: 0, destroyed: false, failNextOutOfMemoryScope: () => void (fail = true) };
  const destroyGpu = gpu.destroy.bind(gpu);
  gpu.destroy = () => {
    w.destroyed = true;
    destroyGpu();
  };
  let fail = false;
  const scopes: GPUErrorFilter[] = [];
  const create = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    const buffer = create(descriptor);
    w.created++;
    w.live.add(buffer);
    const destroy = buffer.destroy.bind(buffer);
    buffer.destroy = () => {
      w.live.delete(buffer);
      destroy();
    };
    return buffer;
  };
  const push = device.pushErrorScope.bind(device);
  device.pushErrorScope = (filter: GPUErrorFilter) => {
    scopes.push(filter);
    push(filter);
  };
  const pop = device.popErrorScope.bind(device);
  device.popErrorScope = async () => {
    const filter = scopes.pop();
    const real = await pop();
    if (filter !== 'out-of-memory' || !fail) return real;
    fail = false;
    return { message: 'Not enough memory left to allocate buffer "model.language_model.embed_tokens.weight"' } as GPUError;
  };
  return w;
}

let server: FixtureServer;
let engine: InThreadEngine;
const devices: Watched[] = [];

describe('out of memory during load', { timeout: GPU_TEST_TIMEOUT }, () => {
  beforeAll(async () => {
    server = await serveFixture();
    engine = new InThreadEngine({
      requestGpu: async () => {
        const gpu = await requestNodeGpu();
        devices.push(watch(gpu));
        return gpu;
      },
    });
    await engine.capabilities();
  });
  afterAll(async () => {
    await engine?.unload();
    await server?.close();
  });

  it('rejects with OUT_OF_MEMORY, destroys the partial model and the device, and the next load succeeds', async () => {
    devices[0].failNextOutOfMemoryScope();
    const err = await engine.load({ model: server.model, maxContext: 64, maxChunk: 16 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect(err).toMatchObject({ name: 'OutOfMemoryError', code: 'OUT_OF_MEMORY', details: { model: server.model } });
    expect((err as Error).message).toContain('Not enough memory left to allocate buffer');
    const [first] = devices;
    expect(first.created).toBeGreaterThan(100);
    // The model destroyed its weights, KV caches and workspaces; the device went with everything else.
    expect([...first.live].filter((b) => /^(model\.|ws\.|kv\.|mm\.)/.test(b.label))).toEqual([]);
    expect(first.destroyed).toBe(true);
    await expect(engine.chat.completions.create({ messages: [], prompt_token_ids: golden.prompt_ids, max_tokens: 1 })).rejects.toBeInstanceOf(NotLoadedError);

    const info = await engine.load({ model: server.model, maxContext: 64, maxChunk: 16 });
    expect(info.numLayers).toBe(8);
    expect(devices).toHaveLength(2);
    expect(devices[1].destroyed).toBe(false);
    const r = await engine.chat.completions.create({ messages: [], prompt_token_ids: golden.prompt_ids, max_tokens: 3, temperature: 0 });
    expect(r.choices[0].token_ids).toEqual(golden.generated_ids.slice(0, 3));
    expect((await engine.capabilities()).model).toMatchObject({ numLayers: 8 });
  });
});
