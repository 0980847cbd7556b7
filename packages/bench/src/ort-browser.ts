/**
 * onnxruntime-web's WebGPU build in a page or Worker, for the side-by-side benchmark: the wasm file is
 * emitted by the bundler next to the page (a `?url` import) and runs on one thread, as in Node.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { OrtModule } from './ort-run.ts';

export function loadOrtBrowser(): OrtModule {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { wasm: wasmUrl };
  ort.env.logLevel = 'error';
  return ort;
}
