/**
 * The kernel benchmark of `pnpm bench` in a page: the same cases, timing and onnxruntime-web side by
 * side (packages/bench), on the page's WebGPU adapter. e2e/bench.spec.ts calls window.g3nBench.run
 * and checks the rows; the table is also shown on the page.
 */
import { requestGpu, type Gpu } from '../../packages/gpu/src/index.ts';
import { kernelCases, runKernelBench, type KernelResult } from '../../packages/bench/src/kernels.ts';
import { visionKernelCases } from '../../packages/bench/src/kernels-vision.ts';
import { describeOrtRun, ortSideBySide } from '../../packages/bench/src/ort-run.ts';
import { loadOrtBrowser } from '../../packages/bench/src/ort-browser.ts';
import { adapterReport, kernelTable, type AdapterReport } from '../../packages/bench/src/report.ts';

export interface PageBenchOptions {
  /** Every width divided by this (see kernelCases). */
  scale: number;
  /** Cases whose name starts with one of these (all q4 cases when omitted). */
  names?: string[];
  /** Also the vision tower's conv and MQA cases (kernels-vision.ts), channel widths divided by this. */
  visionScale?: number;
  /** Fewest calls per side-by-side measurement, and the measurements (median kept). */
  reps: number;
  trials: number;
}

export interface PageBenchResult {
  adapter: AdapterReport | null;
  userAgent: string;
  crossOriginIsolated: boolean;
  ort: { measured: boolean; note: string };
  kernels: KernelResult[];
  table: string;
  error: { name: string; message: string } | null;
}

declare global {
  interface Window {
    g3nBench: { run(options: PageBenchOptions): Promise<PageBenchResult> };
  }
}

const status = document.querySelector('[data-testid="status"]') as HTMLOutputElement;
const tableEl = document.querySelector('[data-testid="table"]') as HTMLElement;
let gpu: Promise<Gpu> | null = null;

async function run(options: PageBenchOptions): Promise<PageBenchResult> {
  const out: PageBenchResult = { adapter: null, userAgent: navigator.userAgent, crossOriginIsolated, ort: { measured: false, note: '' }, kernels: [], table: '', error: null };
  try {
    status.textContent = 'running';
    const g = await (gpu ??= requestGpu({ profile: true }));
    out.adapter = adapterReport(g);
    const ort = loadOrtBrowser();
    const limit = Math.min(g.caps.limits.maxStorageBufferBindingSize, g.caps.limits.maxBufferSize);
    const all = [...kernelCases(options.scale, ['q4'], limit), ...(options.visionScale ? visionKernelCases(options.visionScale) : [])];
    const cases = all.filter((c) => !options.names || options.names.some((n) => c.name.startsWith(n)));
    out.kernels = await runKernelBench(g, cases, {
      workingSet: 0,
      reps: Math.max(2, options.reps),
      trials: 1,
      sideBySide: ortSideBySide(ort, { reps: options.reps, trials: options.trials }),
      onResult: (r) => (status.textContent = `ran ${r.name}`),
    });
    out.ort = { measured: out.kernels.some((k) => k.ort_ms !== null), note: describeOrtRun(ort.env.versions.web ?? '?', false) };
    out.table = kernelTable(out.kernels, out.kernels.find((k) => k.name.startsWith('copy'))?.gbps ?? null);
    tableEl.textContent = out.table;
    status.textContent = 'done';
  } catch (e) {
    const err = e as Error;
    out.error = { name: err.name, message: err.message };
    status.textContent = `error: ${err.message}`;
  }
  return out;
}

window.g3nBench = { run };
status.textContent = 'ready';
