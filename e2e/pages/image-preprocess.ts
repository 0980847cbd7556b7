/**
 * Test page for e2e/image-preprocess.spec.ts (built into a temporary folder by the spec, never into
 * dist/): runs preprocessImage on this browser's WebGPU for a fixture image fetched as a Blob, or
 * decoded first into an ImageBitmap, a VideoFrame or a canvas, and compares the result with the
 * golden pixel_values in the page, so only the statistics cross back to the spec.
 */
import { requestGpu, type Gpu } from '../../packages/gpu/src/index.ts';
import { preprocessImage, readPixelValues, type ImageSource } from '../../packages/preprocess/src/image.ts';

export type SourceKind = 'blob' | 'bitmap' | 'video-frame' | 'canvas';

export interface ImageRun {
  ok: boolean;
  error: { name: string; code: string; reason: unknown; message: string } | null;
  shape: number[];
  maxAbs: number;
  meanAbs: number;
  exact: number;
  /** How the VideoFrame reached the GPU, when the source was one. */
  note: string;
}

let gpu: Promise<Gpu> | null = null;
const goldens = new Map<string, Promise<Map<string, Float32Array>>>();

/** Every tensor of a safetensors file of F32 tensors. */
async function loadGolden(url: string): Promise<Map<string, Float32Array>> {
  const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const out = new Map<string, Float32Array>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__' || e.dtype !== 'F32') continue;
    out.set(name, new Float32Array(bytes.slice(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]).buffer));
  }
  return out;
}

async function source(blob: Blob, kind: SourceKind): Promise<{ src: ImageSource; close(): void }> {
  if (kind === 'blob') return { src: blob, close() {} };
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  if (kind === 'bitmap') return { src: bitmap, close: () => bitmap.close() };
  if (kind === 'video-frame') {
    const frame = new VideoFrame(bitmap, { timestamp: 0 });
    bitmap.close();
    return { src: frame, close: () => frame.close() };
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { src: canvas, close() {} };
}

async function run(imageUrl: string, goldenUrl: string, goldenKey: string, kind: SourceKind): Promise<ImageRun> {
  const result: ImageRun = { ok: false, error: null, shape: [], maxAbs: NaN, meanAbs: NaN, exact: NaN, note: '' };
  try {
    const g = await (gpu ??= requestGpu());
    const blob = await (await fetch(imageUrl)).blob();
    const { src, close } = await source(blob, kind);
    let values: Float32Array;
    try {
      const t = await preprocessImage(g, src);
      result.shape = t.shape;
      values = await readPixelValues(g, t);
      t.buffer.destroy();
    } finally {
      close();
    }
    if (!goldens.has(goldenUrl)) goldens.set(goldenUrl, loadGolden(goldenUrl));
    const golden = (await goldens.get(goldenUrl)!).get(goldenKey);
    if (!golden) throw new Error(`no golden ${goldenKey}`);
    if (golden.length !== values.length) throw new Error(`${values.length} values, golden has ${golden.length}`);
    let max = 0;
    let sum = 0;
    let exact = 0;
    for (let i = 0; i < golden.length; i++) {
      const d = Math.abs(values[i] - golden[i]);
      if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
      sum += d;
      if (d <= 1e-6) exact++;
    }
    Object.assign(result, { ok: true, maxAbs: max, meanAbs: sum / golden.length, exact: exact / golden.length });
  } catch (e) {
    const err = e as { name?: string; code?: string; message?: string; details?: { reason?: unknown } };
    result.error = { name: err.name ?? 'Error', code: err.code ?? '', reason: err.details?.reason ?? null, message: err.message ?? String(e) };
  }
  return result;
}

/** preprocessImage on bytes that are no image: the error it throws. */
async function undecodable(): Promise<ImageRun['error']> {
  try {
    await preprocessImage(await (gpu ??= requestGpu()), new Blob([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4])], { type: 'image/png' }));
    return null;
  } catch (e) {
    const err = e as { name: string; code: string; message: string; details?: { reason?: unknown } };
    return { name: err.name, code: err.code, reason: err.details?.reason ?? null, message: err.message };
  }
}

declare global {
  interface Window {
    g3nImage: { run: typeof run; undecodable: typeof undecodable };
  }
}

window.g3nImage = { run, undecodable };
document.querySelector('[data-testid="status"]')!.textContent = 'ready';
