/**
 * onnxruntime-web in Node on the `webgpu` package's Dawn, for `pnpm bench` and the tests. Three
 * things a browser provides are supplied here: `navigator.gpu` (the `GPU` object g3n's device came
 * from: onnxruntime-web asks it for an adapter before it takes the device it is given), the wasm
 * binary (read from the package, or from the file G3N_ORT_WASM names, instead of fetched), and
 * queue writes from shared memory:
 * onnxruntime-web's wasm memory is a SharedArrayBuffer, which dawn.node's `writeBuffer` rejects
 * ("Invalid argument"), so writes from such views are copied first (on this device only).
 *
 * On a software adapter the wasm runs on V8's baseline compiler only (`--liftoff-only`): optimizing
 * onnxruntime's 27 MB module in the background takes a minute of CPU, and on a machine of few cores
 * Dawn's first pipeline compile waits behind it (measured: 218 s instead of 3 s for the first
 * MatMulNBits pipeline on SwiftShader, 2 cores). The flag is set before the module is compiled.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type { Gpu } from '@g3n/gpu';
import type { OrtModule } from './ort-run.ts';

type WriteBuffer = GPUQueue['writeBuffer'];

function copySharedWrites(queue: GPUQueue): void {
  const write = queue.writeBuffer.bind(queue) as (...args: unknown[]) => undefined;
  const patched = (buffer: GPUBuffer, offset: number, data: AllowSharedBufferSource, dataOffset = 0, size?: number) => {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const bpe = 'BYTES_PER_ELEMENT' in data ? (data.BYTES_PER_ELEMENT as number) : 1;
      const length = size === undefined ? data.byteLength - dataOffset * bpe : size * bpe;
      return write(buffer, offset, new Uint8Array(data.buffer, data.byteOffset + dataOffset * bpe, length).slice());
    }
    return size === undefined ? write(buffer, offset, data, dataOffset) : write(buffer, offset, data, dataOffset, size);
  };
  Object.defineProperty(queue, 'writeBuffer', { value: patched as WriteBuffer, configurable: true, writable: true });
}

/** The wasm build of onnxruntime-web's WebGPU provider (the one `onnxruntime-web/webgpu` loads). */
const WASM = 'ort-wasm-simd-threaded.asyncify.wasm';

let loaded: Promise<OrtModule> | null = null;

export interface OrtNodeOptions {
  /** Run the wasm on the baseline compiler only (default: on a software adapter). */
  liftoffOnly?: boolean;
}

/** onnxruntime-web's WebGPU build, ready to run sessions on `gpu.device` (one wasm instance per process). */
export function loadOrtNode(gpu: Gpu, options: OrtNodeOptions = {}): Promise<OrtModule> {
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: GPU };
  if (nav.gpu !== gpu.instance) Object.defineProperty(nav, 'gpu', { value: gpu.instance, configurable: true });
  copySharedWrites(gpu.device.queue);
  loaded ??= (async () => {
    if (options.liftoffOnly ?? gpu.caps.isSoftware) setFlagsFromString('--liftoff-only');
    const ort = (await import('onnxruntime-web/webgpu')) as OrtModule;
    const wasm = process.env.G3N_ORT_WASM ?? createRequire(import.meta.url).resolve(`onnxruntime-web/${WASM}`);
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.wasmBinary = readFileSync(wasm);
    ort.env.logLevel = 'error';
    return ort;
  })();
  return loaded;
}
