/**
 * Matrices uploaded block by block equal the same matrices uploaded whole, bit for bit on the GPU
 * readback, part by part: f32 / bf16 / q8 / q4 artifacts (row blocks of the embedding, layer column
 * blocks of the layer-major PLE table placed by copy_rows), selections of kept layers and rows, block
 * sizes that do not divide the rows, a binding limit capped so that every matrix has several parts,
 * conversion at load (blocks read again as whole rows where the stored blocks are columns), and an HF
 * checkpoint's row blocks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBytes, type Gpu } from '@g3n/gpu';
import { checkpointWeights, convertCheckpoint, openArtifact, openCheckpoint, selectionShape, wholeSelection, writeSafetensors, type Artifact, type QuantName, type TensorSelection } from '@g3n/weights';
import { f32Tensor, memoryFiles, memorySink } from '../../weights/test/artifact-util.ts';
import { freshGpu } from '../../kernels/test/util.ts';
import { destroyMatrix, uploadMatrix, type MatrixWeight } from '../src/gpu-weights.ts';
import { uploadMatrixBlocks } from '../src/upload-blocks.ts';
import type { DType } from '@g3n/gpu';

const LM = 'model.language_model.';
const PLE = `${LM}embed_tokens_per_layer.weight`;
const EMBED = `${LM}embed_tokens.weight`;
const V = 300;
const L = 4;
const P = 64;
const D = 96;
const KEPT: TensorSelection = { units: [[5, 200], [250, 50]], elements: [[0, 2 * P], [3 * P, P]] };
const LOSSLESS: Record<string, DType> = { F32: 'f32', BF16: 'bf16', F16: 'f16', Q8: 'q8', Q4: 'q4' };

const files = new Map([
  ['config.json', new TextEncoder().encode(JSON.stringify({ model_type: 'gemma3n', text_config: { hidden_size_per_layer_input: P, num_hidden_layers: L } }))],
  ['model.safetensors', writeSafetensors([f32Tensor(PLE, [V, L * P], 1), f32Tensor(EMBED, [V, D], 2)])],
]);
const artifacts = new Map<QuantName, Artifact>();
let gpu: Gpu;

beforeAll(async () => {
  // 8 KiB bindings: from 3 (q4) to 38 (f32) parts per table.
  gpu = await freshGpu({ capLimits: { maxStorageBufferBindingSize: 8 << 10 } });
  for (const quant of ['f32', 'bf16', 'q8', 'q4'] as const) {
    const sink = memorySink();
    await convertCheckpoint(await openCheckpoint(memoryFiles(files)), { quant, modelId: 'blocks', revision: quant, shardBytes: 16 << 10 }, sink);
    artifacts.set(quant, await openArtifact(memoryFiles(sink.files)));
  }
});

afterAll(async () => {
  await gpu?.device.queue.onSubmittedWorkDone();
  gpu?.destroy();
});

/** Every part's data and scale bytes, as read back from the GPU. */
async function readback(m: MatrixWeight): Promise<Array<{ row0: number; rows: number; data: Uint8Array; scales: Uint8Array | null }>> {
  const out = [];
  for (const p of m.parts) {
    const data = new Uint8Array(await readBytes(gpu, p.tensor.buffer, 0, p.tensor.byteLength));
    const scales = p.tensor.scales ? new Uint8Array(await readBytes(gpu, p.tensor.scales.buffer, 0, p.tensor.scales.byteLength)) : null;
    out.push({ row0: p.row0, rows: p.rows, data, scales });
  }
  return out;
}

/** The first differing byte of each part, or nothing. */
async function differences(got: MatrixWeight, want: MatrixWeight): Promise<string[]> {
  expect(got.dtype).toBe(want.dtype);
  const [a, b] = [await readback(got), await readback(want)];
  expect(a.map((p) => [p.row0, p.rows])).toEqual(b.map((p) => [p.row0, p.rows]));
  const out: string[] = [];
  a.forEach((p, i) => {
    for (const [what, x, y] of [['data', p.data, b[i].data], ['scales', p.scales, b[i].scales]] as const) {
      if (!x || !y) continue;
      const at = x.findIndex((v, k) => v !== y[k]);
      if (at >= 0 || x.length !== y.length) out.push(`part ${i} ${what}: byte ${at} of ${y.length}`);
    }
  });
  return out;
}

async function compare(label: string, art: Artifact, name: string, selection: TensorSelection, dtype: DType | null, maxBytes: number): Promise<number> {
  const t = art.tensors.get(name)!;
  const [rows, cols] = selectionShape(t, selection);
  const storage = dtype ?? LOSSLESS[t.dtype];
  const whole = uploadMatrix(gpu, label, await art.readSelection(name, selection), rows, cols, storage);
  let opened = 0;
  const streamed = await uploadMatrixBlocks(gpu, label, (wholeRows) => (opened++, art.readBlocks(name, { selection, maxBytes, wholeRows })), rows, cols, () => storage);
  expect(streamed.parts.length, `${label}: parts`).toBeGreaterThan(1);
  expect(await differences(streamed, whole), label).toEqual([]);
  destroyMatrix(whole);
  destroyMatrix(streamed);
  return opened;
}

describe('uploadMatrixBlocks', () => {
  for (const quant of ['f32', 'bf16', 'q8', 'q4'] as const) {
    it(`${quant}: the PLE table and the embedding, whole and selected, equal the whole upload`, async () => {
      const art = artifacts.get(quant)!;
      expect(art.tensors.get(PLE)!.layout).toBe('layer-major');
      for (const [name, sel] of [[PLE, undefined], [PLE, KEPT], [EMBED, undefined], [EMBED, { units: [[3, 280]] }]] as const) {
        const t = art.tensors.get(name)!;
        const opened = await compare(`${quant} ${name} ${JSON.stringify(sel ?? 'whole')}`, art, name, sel ?? wholeSelection(t), null, 3000);
        expect(opened).toBe(1);
      }
    });
  }

  it('converts at load block by block: bf16 layer columns to q4 and q8 read again as whole rows, f32 rows to bf16', async () => {
    expect(await compare('bf16 -> q4 kept', artifacts.get('bf16')!, PLE, KEPT, 'q4', 3000)).toBe(2);
    expect(await compare('bf16 -> q8 whole', artifacts.get('bf16')!, PLE, wholeSelection(artifacts.get('bf16')!.tensors.get(PLE)!), 'q8', 5000)).toBe(2);
    expect(await compare('f32 -> bf16 embed', artifacts.get('f32')!, EMBED, { units: [[0, V]] }, 'bf16', 2000)).toBe(1);
  });

  it("an HF checkpoint's row blocks of a selection, quantized at load, equal the whole upload", async () => {
    const ckpt = checkpointWeights(await openCheckpoint(memoryFiles(files)));
    const f32 = artifacts.get('f32')!;
    for (const dtype of ['f32', 'q8'] as const) {
      const whole = uploadMatrix(gpu, 'ckpt', await f32.readSelection(PLE, KEPT), 250, 3 * P, dtype);
      const streamed = await uploadMatrixBlocks(gpu, 'ckpt', (wholeRows) => ckpt.readBlocks(PLE, { selection: KEPT, maxBytes: 9000, wholeRows }), 250, 3 * P, () => dtype);
      expect(await differences(streamed, whole), dtype).toEqual([]);
      destroyMatrix(whole);
      destroyMatrix(streamed);
    }
  });

  it('refuses blocks that do not cover the matrix, or lie outside it', async () => {
    const art = artifacts.get('bf16')!;
    const half = { units: [[0, 150]] as const };
    await expect(uploadMatrixBlocks(gpu, 'short', () => art.readBlocks(EMBED, { selection: { units: [[0, 150]] } }), V, D, () => 'bf16')).rejects.toThrow(/150 rows|14400 of its 28800/);
    await expect(uploadMatrixBlocks(gpu, 'wide', () => art.readBlocks(EMBED, { selection: half }), 150, 64, () => 'bf16')).rejects.toThrow(/outside/);
  });
});
