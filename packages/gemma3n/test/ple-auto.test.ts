/**
 * `ple: 'auto'` and the MatFormer 'auto' choice with the PLE table on the host, on the E4B config of spec §1
 * (no GPU): the host when the model would not fit the budget with the table on the GPU, or the budget is a
 * small device's; and with the table on the host, 'auto' fits a larger configuration in the same budget.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config.ts';
import { choosePle } from '../src/load.ts';
import { chooseSlice, pleTableBytes, textModelMemory } from '../src/matformer/auto.ts';
import { E4B_CONFIG } from '../src/matformer/e4b.ts';
import { findPublishedSlice } from '../src/matformer/published.ts';
import { planSlice } from '../src/matformer/slice.ts';

const parent = parseConfig(E4B_CONFIG);
const DESKTOP = { maxBufferSize: 4 * 2 ** 30, maxStorageBufferBindingSize: 2 * 2 ** 30 };
const weights = { config: E4B_CONFIG, tensors: new Map(), readTensorData: async () => { throw new Error('not read'); } };

describe("ple: 'auto'", () => {
  const e2b = planSlice(parent, findPublishedSlice('E2B')!);
  const gpuTotal = textModelMemory(parent, e2b.slice, { format: 'q4', ple: 'gpu' }).total;

  it.each([
    [undefined, 'gpu', 'no budget known'],
    [gpuTotal - 1, 'host', 'one byte short of the model with the table on the GPU'],
    [gpuTotal + 1e9, 'gpu', 'fits with room'],
    [2 * 2 ** 30, 'host', 'a small device (deviceMemory 4 GiB / 2)'],
  ] as const)('budget %s: %s (%s)', (budget, want, _why) => {
    const told: string[] = [];
    const got = choosePle(parent, e2b, weights, { format: 'q4', ple: 'auto', memoryBudgetBytes: budget, onPleChoice: (c) => told.push(`${c.ple}: ${c.reason}`) });
    expect(got).toBe(want);
    expect(told).toHaveLength(1);
    expect(told[0].startsWith(want)).toBe(true);
  });

  it("'gpu' and 'host' are kept as asked; no option is 'gpu'", () => {
    expect(choosePle(parent, e2b, weights, { ple: 'host', memoryBudgetBytes: 1e12 })).toBe('host');
    expect(choosePle(parent, e2b, weights, { ple: 'gpu', memoryBudgetBytes: 1 })).toBe('gpu');
    expect(choosePle(parent, e2b, weights, { memoryBudgetBytes: 1 })).toBe('gpu');
  });

  it("matformer 'auto' counts the PLE table on the host: at 2.0 GB none fits with it on the GPU, the E2B configuration with it on the host", () => {
    const budget = 2.0e9;
    expect(() => chooseSlice(parent, { format: 'q4', limits: DESKTOP, budgetBytes: budget, ple: 'gpu' })).toThrow(/No MatFormer configuration fits/);
    const onHost = chooseSlice(parent, { format: 'q4', limits: DESKTOP, budgetBytes: budget, ple: 'host' });
    expect(onHost.memory.total).toBeLessThanOrEqual(budget);
    const same = textModelMemory(parent, onHost.slice, { format: 'q4', ple: 'gpu' });
    expect(same.weights - onHost.memory.weights).toBe(pleTableBytes(planSlice(parent, onHost.slice).config, 'q4'));
    expect(same.total).toBeGreaterThan(budget);
  });
});
