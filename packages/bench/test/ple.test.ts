/**
 * The PLE table off the GPU in the benchmark: the computed full-size memory table (E2B q4 with PLE on
 * the host below 2.0 GB, the difference exactly the table less its staging rows), and a synthetic E2B
 * (1/16 widths, q4) run with --ple host against --ple gpu: the run's peak GPU bytes drop by the
 * table's size (less the staging), one stored row is written per decode token, and the per-token
 * budgets hold (one submit, <= 16 bytes read back, nothing created).
 */
import { describe, expect, it } from 'vitest';
import { findPublishedSlice, pleTableBytes, planSlice } from '@g3n/gemma3n';
import { runModelBench } from '../src/model.ts';
import { memoryTable, pleRowBytes } from '../src/ple.ts';
import { parentConfig, syntheticConfig } from '../src/synthetic.ts';
import { testGpu } from '../../kernels/test/util.ts';

describe('PLE on the host', () => {
  it('full-size memory: E2B and E4B at q4/q8, PLE on the GPU and on the host; E2B q4 with PLE on the host under 2.0 GB', () => {
    const rows = memoryTable();
    expect(rows.map((r) => `${r.model} ${r.format} ${r.ple}`)).toEqual(['E2B q4 gpu', 'E2B q4 host', 'E2B q8 gpu', 'E2B q8 host', 'E4B q4 gpu', 'E4B q4 host', 'E4B q8 gpu', 'E4B q8 host']);
    for (let i = 0; i < rows.length; i += 2) {
      const [g, h] = [rows[i], rows[i + 1]];
      const config = planSlice(parentConfig(1), findPublishedSlice(g.model)!).config;
      const table = pleTableBytes(config, g.format);
      const row = pleRowBytes(config, g.format);
      expect(g.weights_bytes - h.weights_bytes, `${g.model} ${g.format}: the PLE table`).toBe(table);
      expect(h.activations_bytes - g.activations_bytes, `${g.model} ${g.format}: staging rows (129) and row indices (128)`).toBe(129 * row + 4 * 128);
      expect(h.kv_bytes).toBe(g.kv_bytes);
      for (const r of [g, h]) expect(r.total_bytes).toBe(r.weights_bytes + r.kv_bytes + r.activations_bytes);
    }
    const e2b = rows[1];
    // E2B's PLE table: 262,144 x 30 x 256 at q4 (0.5 byte + an f16 scale per 32) = 1,107,296,256 bytes.
    expect(rows[0].weights_bytes - e2b.weights_bytes).toBe(262_144 * 7680 * (0.5 + 2 / 32));
    expect(e2b.total_bytes).toBeLessThan(2.0e9);
  });

  it('a synthetic E2B run with the table on the host: GPU bytes lower by the table, one row written per token, budgets held', async () => {
    const gpu = await testGpu();
    const base = { model: 'E2B', format: 'q4' as const, scale: 16, promptTokens: 2, decodeTokens: 2 };
    const onGpu = await runModelBench(gpu, { ...base, ple: 'gpu' });
    const onHost = await runModelBench(gpu, { ...base, ple: 'host' });
    const config = syntheticConfig('E2B', 16);
    const table = pleTableBytes(config, 'q4');
    const row = pleRowBytes(config, 'q4');
    expect([onGpu.ple, onHost.ple]).toEqual(['gpu', 'host']);
    expect(onGpu.host_ple_bytes_per_token).toBe(0);
    expect(onHost.host_ple_bytes_per_token, 'one stored row per token').toBe(row);
    // The host run holds the staging rows (maxChunk = 2, plus one for decode) and their 2 indices instead of the
    // table; the peaks also hold a few transient buffers (upload staging, read-backs), within a KiB of each other.
    const saved = onGpu.gpu_bytes - onHost.gpu_bytes;
    expect(saved, `peak GPU bytes saved (table ${table})`).toBeGreaterThanOrEqual(table - 3 * row - 8 - 1024);
    expect(saved).toBeLessThanOrEqual(table);
    expect(onHost.weight_bytes_resident).toBe(onGpu.weight_bytes_resident - table);
    const d = onHost.decode;
    expect(d.submits_per_token).toBe(1);
    expect(d.readback_bytes_per_token).toBeLessThanOrEqual(16);
    expect(d.allocations_per_token).toBe(0);
    expect(d.dispatches_per_token).toBe(onGpu.decode.dispatches_per_token);
  }, 400_000);
});
