/**
 * matformer: 'auto' on fake capabilities: the E4B config of spec §1, several memory budgets, formats,
 * contexts and buffer limits; the chosen configuration and the reason given for it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '@g3n/gpu';
import { checkpointWeights, openCheckpoint } from '@g3n/weights';
import { nodeFileSource } from '@g3n/weights/node';
import { parseConfig } from '../src/config.ts';
import { loadTextModel } from '../src/load.ts';
import { chooseSlice, type AutoSliceOptions } from '../src/matformer/auto.ts';
import { E4B_CONFIG } from '../src/matformer/e4b.ts';
import { FIXTURES } from './golden.ts';

/** A desktop GPU's limits (2 GiB bindings, 4 GiB buffers). */
const DESKTOP = { maxBufferSize: 4 * 2 ** 30, maxStorageBufferBindingSize: 2 * 2 ** 30 };
const parent = parseConfig(E4B_CONFIG);
const choose = (o: Partial<AutoSliceOptions>) => chooseSlice(parent, { format: 'q4', limits: DESKTOP, budgetBytes: null, ...o });

describe("matformer: 'auto' picks the largest published configuration that fits", () => {
  it.each([
    ['q4', 16 * 2 ** 30, 'Main model (E4B)'],
    ['q4', 3.5e9, 'E2.73B (block-level)'],
    ['q4', 3.0e9, 'E1.96B (layer-level)'],
    ['q4', 2.82e9, 'Config for official E2B Model'],
    ['q8', 6.3e9, 'E2.73B (block-level)'],
    ['bf16', 12e9, 'E2.98B (layer-level)'],
  ] as const)('%s weights in a %d-byte budget: %s', (format, budget, name) => {
    const c = choose({ format, budgetBytes: budget, budgetSource: 'test budget' });
    expect(c.slice.name).toBe(name);
    expect(c.memory.total).toBeLessThanOrEqual(budget);
    expect(c.memory.total).toBe(c.memory.weights + c.memory.kvCache + c.memory.activations);
    const larger = c.candidates.filter((x) => x.slice.effectiveParamsB > c.slice.effectiveParamsB);
    expect(larger.every((x) => !x.fits && x.memory.total > budget)).toBe(true);
    expect(c.reason).toContain(`Chose "${name}"`);
    expect(c.reason).toContain('test budget');
    expect(c.reason).toMatch(/needs \d+\.\d\d GB \(\w+ weights \d+\.\d\d GB \+ KV cache \d+\.\d\d GB \+ activations \d+\.\d\d GB\)/);
    if (larger.length) expect(c.reason).toMatch(/; the next larger, ".+" \(.+\) needs \d+\.\d\d GB .+: over the \d+\.\d\d GB budget\.$/);
  });

  it('a longer context (larger KV cache) picks a smaller configuration in the same budget', () => {
    const short = choose({ budgetBytes: 3.5e9, maxContext: 4096 });
    const long = choose({ budgetBytes: 3.5e9, maxContext: 32_768 });
    expect(long.memory.kvCache).toBeGreaterThan(4 * short.memory.kvCache);
    expect(short.slice.name).toBe('E2.73B (block-level)');
    expect(long.slice.name).toBe('E1.96B (layer-level)');
  });

  it('with no memory estimate only the limits decide, and the reason says so', () => {
    const c = choose({});
    expect(c.slice.name).toBe('Main model (E4B)');
    expect(c.candidates).toHaveLength(16);
    expect(c.reason).toContain('no memory estimate');
    expect(c.reason).toContain('it is the largest configuration');
  });

  it('nothing fits: OUT_OF_MEMORY naming the smallest configuration and what it needs', () => {
    expect(() => choose({ budgetBytes: 2.5e9 })).toThrow(expect.objectContaining({ code: 'OUT_OF_MEMORY', message: expect.stringContaining('Config for official E2B Model') }));
    const tight = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 128 * 2 ** 20 };
    expect(() => choose({ limits: tight })).toThrow(expect.objectContaining({ code: 'OUT_OF_MEMORY', message: expect.stringContaining('134.2 MB buffer limit') }));
    expect(choose({ limits: tight, maxChunk: 64 }).slice.name).toBe('Main model (E4B)');
  });

  it('a parent that is not E4B-shaped has no published configuration: UNSUPPORTED_CONFIG, before any GPU work', async () => {
    const dir = join(FIXTURES, 'gemma3n-tiny-matformer');
    const tiny = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
    expect(() => chooseSlice(tiny, { format: 'bf16', limits: DESKTOP, budgetBytes: null })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_CONFIG' }));
    const fakeGpu = { caps: { limits: DESKTOP } } as unknown as Gpu;
    await expect(loadTextModel(fakeGpu, checkpointWeights(await openCheckpoint(nodeFileSource(dir))), { matformer: 'auto', memoryBudgetBytes: 2 ** 30 })).rejects.toMatchObject({ code: 'UNSUPPORTED_CONFIG' });
  });
});
