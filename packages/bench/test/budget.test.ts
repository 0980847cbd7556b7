/**
 * The per-token budgets of issue 7 on a synthetic E2B-shaped model (every width / 16, all 30 layers,
 * q4), checked by counting, not by timing: one queue submit, at most 400 dispatches and at most 16 bytes
 * read back per decode token, nothing created per token once the decode plan exists, and the weight bytes a
 * decode step reads against the spec §9 minimum (dense: the sparse layers' FFN counted whole).
 *
 * Dense layers read their matrices whole: a configuration without sparse layers (activation sparsity
 * 0 everywhere) reads its bound weights, within 5% of the minimum (the vector weights, which the fused
 * step reads from one packed copy, count once). With sparse layers (0-9;
 * I = 512, D = 128) a step reads only the up_proj rows whose gate value survives Gaussian top-k and,
 * of the down_proj stored transposed ([I, D]), the rows of those values plus the scales of the
 * 32-input groups holding one. Bound: top-k at s = 0.95 keeps about 5% of the gate (spec §1.3), and
 * each layer's measured kept fraction r_l is asserted to lie in (0, 10%]; a q4 up_proj is
 * U = 512 rows x 72 bytes = 36,864 bytes and the down_proj codes C = 512 rows x 64 bytes = 32,768
 * bytes, so the rows alone that are not read come to at least 10 x 0.9 x (U + C) = 626,688 bytes.
 * The step must read at least that much less than the same plan read dense, and less than the
 * minimum; the saving it reports must equal, to the byte, sum_l (1 - r_l) (U + C) + (1 - b_l) S from
 * the measured counts (b_l the fraction of groups holding a kept value, S = 16 groups x 128 scales
 * x 2 bytes = 4,096 bytes).
 */
import { describe, expect, it } from 'vitest';
import { prefillLayerRows } from '@g3n/gemma3n';
import { runModelBench } from '../src/model.ts';
import { syntheticConfig } from '../src/synthetic.ts';
import { testGpu } from '../../kernels/test/util.ts';

const UP_BYTES = 512 * (64 + 4 * 2);
const DOWN_CODES = 512 * 64;
const DOWN_SCALES = 16 * 128 * 2;

describe('decode budgets on a synthetic E2B (1/16 widths, q4)', () => {
  it('one submit, <= 16 bytes read back, zero creations per token; dense weights within 5% of the minimum, sparse layers below it', async () => {
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
    // The fused decode step: about 12 dispatches per layer (13 in a sparse layer) instead of about 42.
    expect(d.dispatches_per_token).toBeGreaterThan(30);
    expect(d.dispatches_per_token, 'dispatches per decode token').toBeLessThanOrEqual(400);
    expect(d.tokens_per_s).toBeGreaterThan(0);
    expect(r.prefill.ttft_ms).toBeGreaterThan(0);
    expect(r.prefill.ttft_full_prefill_ms).toBeGreaterThan(0);
    // E2B: layers 20-29 share the KV of earlier layers, so a 256-token prompt runs 256 x 20 + 10 layer-rows, not 256 x 30.
    expect([prefillLayerRows(syntheticConfig('E2B', 16).text, 256), prefillLayerRows(syntheticConfig('E2B', 16).text, 256, false)]).toEqual([5130, 7680]);
    expect([r.prefill.prefill_rows_run, r.prefill.prefill_rows]).toEqual([30, 30]);

    const dense = d.weight_bytes_dense / d.weight_bytes_min;
    expect(dense, `dense weight bytes ${d.weight_bytes_dense} vs minimum ${d.weight_bytes_min}`).toBeGreaterThanOrEqual(1);
    expect(dense).toBeLessThanOrEqual(1.05);

    expect(d.sparse_ffn.map((s) => s.layer)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let saving = 0;
    for (const s of d.sparse_ffn) {
      expect([s.rows, s.blocks], `layer ${s.layer}`).toEqual([512, 16]);
      expect(s.active_rows, `layer ${s.layer}: gate values kept`).toBeGreaterThan(0);
      expect(s.active_rows / s.rows, `layer ${s.layer}: fraction kept by top-k`).toBeLessThanOrEqual(0.1);
      expect(s.active_blocks).toBeGreaterThan(0);
      expect(s.active_blocks).toBeLessThanOrEqual(Math.min(s.blocks, s.active_rows));
      saving += (1 - s.active_rows / s.rows) * (UP_BYTES + DOWN_CODES) + (1 - s.active_blocks / s.blocks) * DOWN_SCALES;
    }
    expect(d.weight_bytes_sparse_saving, 'bytes the sparse layers skip, from the measured counts').toBeCloseTo(saving, 6);
    expect(d.weight_bytes_per_token).toBe(d.weight_bytes_dense - d.weight_bytes_sparse_saving);
    const bound = 10 * 0.9 * (UP_BYTES + DOWN_CODES);
    expect(d.weight_bytes_sparse_saving, `read ${d.weight_bytes_per_token} vs ${d.weight_bytes_dense} dense`).toBeGreaterThanOrEqual(bound);
    expect(d.weight_bytes_ratio, `read ${d.weight_bytes_per_token} vs minimum ${d.weight_bytes_min}`).toBeLessThan(1);
  }, 600_000);

  it('without sparse layers every matrix is read whole, within 5% of the minimum', async () => {
    const gpu = await testGpu();
    const d = (await runModelBench(gpu, { model: 'E2B', format: 'q4', scale: 16, promptTokens: 1, decodeTokens: 1, denseFfn: true })).decode;
    expect(d.sparse_ffn).toEqual([]);
    expect(d.weight_bytes_sparse_saving).toBe(0);
    expect(d.weight_bytes_per_token).toBe(d.weight_bytes_dense);
    expect(d.weight_bytes_ratio, `weight bytes ${d.weight_bytes_per_token} vs minimum ${d.weight_bytes_min}`).toBeGreaterThanOrEqual(1);
    expect(d.weight_bytes_ratio).toBeLessThanOrEqual(1.05);
    expect([d.submits_per_token, d.allocations_per_token]).toEqual([1, 0]);
  }, 600_000);
});
