import { describe, expect, it } from 'vitest';
import { createTensor, defineKernel, foldWorkgroups, Plan, readU32, runOnce, ShaderError, submitPlans, type Gpu } from '../src/index.ts';
import { freshGpu, testGpu } from '../../kernels/test/util.ts';

const COUNT = /* wgsl */ `
// Writes each workgroup's linear index (folded grid) into out[index].
struct Params { count: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = wid.x + wid.y * nwg.x;
  if (i >= params.count) { return; }
  out[i] = i + 1u;
}`;

const STAMP = /* wgsl */ `
// out[slot] = pos0 + add.
struct Params { pos0: u32, add: u32, slot: u32, _pad0: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@compute @workgroup_size(1)
fn main() {
  out[params.slot] = params.pos0 + params.add;
}`;

describe('packages/gpu', () => {
  it('Plan.setShared sets a named param in every dispatch that has it, for the next replay only where asked', async () => {
    const gpu = await testGpu();
    const stamp = defineKernel('stamp', STAMP, 'main');
    const count = defineKernel('count', COUNT, 'main');
    const out = createTensor(gpu, 'out', 'u32', [4]);
    const plan = await Plan.build(gpu, 'shared', [
      { kernel: stamp, bindings: { out }, params: { pos0: 0, add: 10, slot: 0 }, workgroups: [1] },
      { kernel: count, bindings: { out }, params: { count: 0, _a: 0, _b: 0, _c: 0 }, workgroups: [1] },
      { kernel: stamp, bindings: { out }, params: { pos0: 0, add: 20, slot: 1 }, workgroups: [1] },
    ]);
    try {
      for (const pos0 of [5, 7]) {
        plan.setShared({ pos0 });
        submitPlans(gpu, [plan]);
        expect(Array.from(await readU32(gpu, out)).slice(0, 2), `pos0 = ${pos0}`).toEqual([pos0 + 10, pos0 + 20]);
      }
      plan.setParams(2, { add: 30 });
      submitPlans(gpu, [plan]);
      expect(Array.from(await readU32(gpu, out)).slice(0, 2)).toEqual([17, 37]);
    } finally {
      plan.destroy();
      out.buffer.destroy();
    }
  });

  it('reports adapter, features and the limits the device was created with', async () => {
    const gpu = await testGpu();
    expect(typeof gpu.caps.features.shaderF16).toBe('boolean');
    expect(typeof gpu.caps.features.subgroups).toBe('boolean');
    expect(gpu.caps.limits.maxStorageBufferBindingSize).toBe(gpu.device.limits.maxStorageBufferBindingSize);
    expect(gpu.caps.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 << 20);
  });

  it('counts the buffers it makes: live until destroyed (once), created in all', async () => {
    const gpu = await freshGpu();
    try {
      const start = { ...gpu.buffers };
      const a = createTensor(gpu, 'a', 'f32', [16]);
      const q = createTensor(gpu, 'q', 'q8', [64]);
      expect(gpu.buffers.live - start.live).toBe(3);
      expect(gpu.buffers.liveBytes - start.liveBytes, 'f32 [16], q8 [64] and its 2 f16 scales (one word)').toBe(64 + 64 + 4);
      a.buffer.destroy();
      a.buffer.destroy();
      q.buffer.destroy();
      expect(gpu.buffers.live - start.live).toBe(1);
      q.scales!.buffer.destroy();
      expect(gpu.buffers).toEqual({ live: start.live, created: start.created + 3, liveBytes: start.liveBytes, peakBytes: Math.max(start.peakBytes, start.liveBytes + 64 + 64 + 4) });
    } finally {
      gpu.destroy();
    }
  });

  it('caps limits below the adapter for testing split paths', async () => {
    const gpu = await freshGpu({ capLimits: { maxStorageBufferBindingSize: 4096 } });
    try {
      expect(gpu.caps.limits.maxStorageBufferBindingSize).toBe(4096);
      expect(() => createTensor(gpu, 'big', 'f32', [2048])).toThrow(/maxStorageBufferBindingSize/);
    } finally {
      gpu.destroy();
    }
  });

  it('rethrows WGSL compile errors with the kernel key and the line', async () => {
    const gpu = await testGpu();
    const bad = defineKernel('broken', COUNT.replace('out[i] = i + 1u;', 'out[i] = i + 1.5;'), 'main');
    const err = await gpu.pipelines.prepare([bad]).then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderError);
    expect((err as ShaderError).code).toBe('SHADER_COMPILE');
    expect((err as ShaderError).message).toMatch(/^broken\/main: WGSL error at line 10:/);
  });

  it('labels pipelines with their readable key and caches them', async () => {
    const gpu = await testGpu();
    const k = defineKernel('count', COUNT, 'main');
    await gpu.pipelines.prepare([k, k]);
    expect(gpu.pipelines.get(k).label).toBe('count/main');
    const before = gpu.pipelines.created;
    await gpu.pipelines.prepare([k]);
    expect(gpu.pipelines.created).toBe(before);
  });

  it('folds workgroup counts above the per-dimension limit into a 2-D grid that covers every index once', async () => {
    expect(foldWorkgroups(10, 65535)).toEqual([10, 1, 1]);
    expect(foldWorkgroups(70000, 65535)).toEqual([35000, 2, 1]);
    const gpu: Gpu = await freshGpu({ capLimits: { maxComputeWorkgroupsPerDimension: 16 } });
    try {
      const n = 250;
      const out = createTensor(gpu, 'out', 'u32', [n + 6]);
      const k = defineKernel('count', COUNT, 'main');
      await runOnce(gpu, 'fold', [{ kernel: k, bindings: { out }, params: { count: n, _a: 0, _b: 0, _c: 0 }, workgroups: foldWorkgroups(n, gpu.caps.limits.maxComputeWorkgroupsPerDimension) }]);
      const got = await readU32(gpu, out);
      expect(Array.from(got.subarray(0, n))).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(Array.from(got.subarray(n))).toEqual([0, 0, 0, 0, 0, 0]);
    } finally {
      gpu.destroy();
    }
  });

  it('profiles each dispatch by kernel key with timestamp queries when asked', async (ctx) => {
    const gpu = await freshGpu({ profile: true });
    try {
      if (!gpu.caps.features.timestampQuery) ctx.skip(true, 'adapter lacks timestamp-query');
      const out = createTensor(gpu, 'out', 'u32', [64]);
      const k = defineKernel('count', COUNT, 'main');
      const d = { kernel: k, bindings: { out }, params: { count: 64, _a: 0, _b: 0, _c: 0 }, workgroups: [64, 1, 1] as const };
      await runOnce(gpu, 'profiled', [d, d, d]);
      const row = gpu.profiler!.report().find((r) => r.key === 'count/main');
      expect(row?.count).toBe(3);
      expect(row!.ms).toBeGreaterThanOrEqual(0);
    } finally {
      gpu.destroy();
    }
  });
});
