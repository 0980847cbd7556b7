import { describe, expect, it } from 'vitest';
import { createTensor, Plan, submitPlans } from '@g3n/gpu';
import { DeviceCounters } from '../src/counters.ts';
import { fillRandom } from '../src/fill.ts';
import { testGpu } from '../../kernels/test/util.ts';

describe('device counters', () => {
  it('count buffers, bind groups (recorded with their ranges), dispatches, submits and bytes mapped for reading', async () => {
    const gpu = await testGpu();
    const counters = new DeviceCounters(gpu.device);
    try {
      const t = createTensor(gpu, 'counted', 'u32', [64]);
      counters.recording = [];
      const plan = await Plan.build(gpu, 'counted', [fillRandom(gpu, { out: t, words: 64, mode: 'bits', seed: 1, amp: 1 }), fillRandom(gpu, { out: t, words: 32, mode: 'bits', seed: 2, amp: 1 })]);
      const recorded = counters.recording;
      counters.recording = null;
      const before = counters.snapshot();
      submitPlans(gpu, [plan]);
      submitPlans(gpu, [plan]);
      const staging = gpu.device.createBuffer({ size: 16, usage: 0x1 | 0x8 });
      await gpu.device.queue.onSubmittedWorkDone();
      await staging.mapAsync(0x1, 0, 8);
      staging.unmap();
      const after = counters.snapshot();
      expect(recorded.map((r) => r.label)).toEqual(['fill/fill_random{WG=256}', 'fill/fill_random{WG=256}']);
      expect(recorded[0].entries.some((e) => e.buffer === t.buffer && e.size === 256)).toBe(true);
      expect(after.submits - before.submits).toBe(2);
      expect(after.dispatches - before.dispatches).toBe(4);
      expect(after.buffers - before.buffers).toBe(1);
      expect(after.readbackBytes - before.readbackBytes).toBe(8);
      plan.destroy();
      staging.destroy();
      t.buffer.destroy();
    } finally {
      counters.dispose();
    }
  });
});
