import { describe, expect, it } from 'vitest';
import type { MatrixWeight, TextWeights } from '@g3n/gemma3n';
import type { RecordedBindGroup } from '../src/counters.ts';
import { gateReads, planWeightBytes, sparseFfnReads } from '../src/traffic.ts';

const buf = (label: string) => ({ label, size: 1 << 20 }) as unknown as GPUBuffer;

/** A shape-only matrix in row parts of `rowsPer` rows, each with its own data (and scales) buffer. */
function matrix(label: string, rows: number, cols: number, dtype: 'q4' | 'bf16', rowsPer = rows, transposed = false): MatrixWeight {
  const parts: MatrixWeight['parts'] = [];
  for (let row0 = 0; row0 < rows; row0 += rowsPer) {
    const n = Math.min(rowsPer, rows - row0);
    const scales = dtype === 'q4' ? { scales: { label: `${label}.scales`, dtype: 'f16', shape: [n * cols / 32], buffer: buf(`${label}[${row0}].scales`), offset: 0, byteLength: 0 } } : {};
    parts.push({ row0, rows: n, tensor: { label, dtype, shape: transposed ? [cols, n] : [n, cols], buffer: buf(`${label}[${row0}]`), offset: 0, byteLength: 0, ...scales } as MatrixWeight['parts'][number]['tensor'] });
  }
  return { label, rows, cols, dtype, parts, ...(transposed ? { transposed } : {}) };
}

/** A gate of n values, non-zero at `at`. */
function gate(n: number, at: number[]): Float32Array {
  const g = new Float32Array(n);
  for (const i of at) g[i] = 0.5;
  return g;
}

describe('sparse FFN reads', () => {
  it('counts kept gate values and the 32-value blocks holding one (a short last block included)', () => {
    expect(gateReads(3, gate(100, []))).toEqual({ layer: 3, rows: 100, active_rows: 0, blocks: 4, active_blocks: 0 });
    expect(gateReads(0, gate(100, [0, 31, 32, 99]))).toEqual({ layer: 0, rows: 100, active_rows: 4, blocks: 4, active_blocks: 3 });
    expect(gateReads(1, new Float32Array(64).fill(-1))).toEqual({ layer: 1, rows: 64, active_rows: 64, blocks: 2, active_blocks: 2 });
  });

  it('up_proj reads the kept rows of each part, down_proj the non-empty blocks of every row, with their q4 scales', () => {
    const up = matrix('up', 96, 64, 'q4', 40);
    const down = matrix('down', 64, 96, 'q4');
    const weights = { layers: [{ upProj: up, downProj: down }] } as unknown as TextWeights;
    const reads = sparseFfnReads(weights, new Map([[0, gate(96, [1, 2, 39, 40, 95])]]));
    // up parts: rows [0, 40) keep 3, [40, 80) keep 1, [80, 96) keep 1; a q4 row of 64 is 32 bytes + 2 scales of 2 bytes
    expect(up.parts.map((p) => [reads.get(p.tensor.buffer), reads.get(p.tensor.scales!.buffer)])).toEqual([[96, 12], [32, 4], [32, 4]]);
    // down: blocks 0, 1 and 2 of 3 are non-empty: 64 rows x 3 x 16 bytes, 64 x 3 scales
    expect([reads.get(down.parts[0].tensor.buffer), reads.get(down.parts[0].tensor.scales!.buffer)]).toEqual([64 * 48, 64 * 6]);
  });

  it('a transposed down_proj reads the rows of the kept gate values in each part, and the scales of their groups', () => {
    const up = matrix('up', 96, 64, 'q4');
    const down = matrix('down', 64, 96, 'q4', 48, true);
    const weights = { layers: [{ upProj: up, downProj: down }] } as unknown as TextWeights;
    const reads = sparseFfnReads(weights, new Map([[0, gate(96, [1, 2, 39, 40, 95])]]));
    // 5 kept inputs in 3 groups of 32; parts of 48 and 16 outputs: rows of 24 and 8 q4 bytes, 48 and 16 scales of 2 bytes per group
    expect(down.parts.map((p) => [reads.get(p.tensor.buffer), reads.get(p.tensor.scales!.buffer)])).toEqual([[5 * 24, 3 * 96], [5 * 8, 3 * 32]]);
    const bf = matrix('down', 8, 40, 'bf16', 8, true);
    const r2 = sparseFfnReads({ layers: [{ upProj: matrix('up', 40, 8, 'bf16'), downProj: bf }] } as unknown as TextWeights, new Map([[0, gate(40, [0, 33])]]));
    expect(r2.get(bf.parts[0].tensor.buffer)).toBe(2 * 8 * 2);
  });

  it('counts a bf16 down_proj with a short last block by its width', () => {
    const weights = { layers: [{ upProj: matrix('up', 40, 8, 'bf16'), downProj: matrix('down', 8, 40, 'bf16') }] } as unknown as TextWeights;
    const reads = sparseFfnReads(weights, new Map([[0, gate(40, [33])]]));
    expect(reads.get(weights.layers[0].upProj.parts[0].tensor.buffer)).toBe(16);
    expect(reads.get(weights.layers[0].downProj.parts[0].tensor.buffer)).toBe(8 * 8 * 2);
  });

  it('a plan counts those reads only under the sparse matvec and gather kernels', () => {
    const w = buf('w');
    const act = buf('ws.x');
    const buffers = new Map([[w, { name: 'w', rowBytes: 10 }]]);
    const reads = new Map([[w, 120]]);
    const e = (buffer: GPUBuffer, size: number) => ({ buffer, offset: 0, size });
    const bound = (label: string): RecordedBindGroup => ({ label, entries: [e(act, 64), e(w, 1000), e(w, 1000), e(act, 64)] });
    expect(planWeightBytes([bound('matvec/matvec_masked{DTYPE=1,ROWS=4,WG=256}')], buffers, reads)).toBe(120);
    expect(planWeightBytes([bound('matvec_subgroups/matvec_skip{DTYPE=1,ROWS=4,WG=256}')], buffers, reads)).toBe(120);
    expect(planWeightBytes([bound('linear_t/gather{DTYPE=4,WG=32}')], buffers, reads)).toBe(120);
    expect(planWeightBytes([bound('matvec/matvec{DTYPE=1,ROWS=4,WG=256}')], buffers, reads)).toBe(1000);
    expect(planWeightBytes([bound('matmul/matmul{DTYPE=4,TILE_K=16,WG_M=16,WG_N=16,W_T=1}')], buffers, reads)).toBe(1000);
    expect(planWeightBytes([bound('matvec/matvec_masked{DTYPE=1,ROWS=4,WG=256}')], buffers)).toBe(1000);
  });

  it('rejects a gate that does not fit the layer', () => {
    const weights = { layers: [{ upProj: matrix('up', 64, 32, 'q4'), downProj: matrix('down', 32, 64, 'q4') }] } as unknown as TextWeights;
    expect(() => sparseFfnReads(weights, new Map([[0, gate(63, [])]]))).toThrow(/does not fit/);
  });
});
