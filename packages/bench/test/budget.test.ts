/**
 * The per-token budgets of issue 7 on a synthetic E2B-shaped model (every width / 16, all 30 layers,
 * q4), checked by counting, not by timing: one queue submit and at most 16 bytes read back per
 * decode token, nothing created per token once the decode plan exists, and the weight bytes the
 * decode step reads within 5% of the spec §9 minimum. The minimum is the dense one: reading only
 * the needed up_proj rows and down_proj columns of the sparse layers (which would bring the sparse
 * layers below it) is not implemented, so the ratio is asserted to be at least 1.
 */
import { describe, expect, it } from 'vitest';
import { runModelBench } from '../src/model.ts';
import { testGpu } from '../../kernels/test/util.ts';

describe('decode budgets on a synthetic E2B (1/16 widths, q4)', () => {
  it('one submit, <= 16 bytes read back, zero creations per token, weight bytes within 5% of the minimum', async () => {
    const gpu = await testGpu();
    const r = await runModelBench(gpu, { model: 'E2B', format: 'q4', scale: 16, promptTokens: 1, decodeTokens: 2 });
    const d = r.decode;
    expect(r.layers).toBe(30);
    expect(d.submits_per_token, 'queue submits per token').toBe(1);
    expect(d.readback_bytes_per_token, 'bytes read back per token').toBeLessThanOrEqual(16);
    expect(d.buffers_per_token, 'buffers created per token').toBe(0);
    expect(d.bind_groups_per_token, 'bind groups created per token').toBe(0);
    expect(d.pipelines_per_token, 'pipelines created per token').toBe(0);
    expect(d.allocations_per_token).toBe(0);
    expect(d.dispatches_per_token).toBeGreaterThan(30);
    expect(d.weight_bytes_ratio, `weight bytes ${d.weight_bytes_per_token} vs minimum ${d.weight_bytes_min}`).toBeGreaterThanOrEqual(1);
    expect(d.weight_bytes_ratio).toBeLessThanOrEqual(1.05);
    expect(d.tokens_per_s).toBeGreaterThan(0);
    expect(r.prefill.ttft_ms).toBeGreaterThan(0);
  }, 300_000);
});
