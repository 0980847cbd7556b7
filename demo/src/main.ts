/**
 * Placeholder demo page: reports the WebGPU adapter (description, optional features, key limits),
 * runs one kernel in a module Worker on request, and says whether the tiny demo model is bundled.
 */
import { G3nError, requestGpu, type Capabilities } from '@g3n/gpu';
import { wrap, type Remote } from 'comlink';
import type { GpuWorkerApi } from './gpu-worker.ts';
import './style.css';

const WORKER_A = [1, 2, 3, 4, 5];
const WORKER_B = [10, 20, 30, 40, 50];
const MODEL_URL = `${import.meta.env.BASE_URL}models/tiny/`;

const FEATURES: Array<[string, keyof Capabilities['features']]> = [
  ['shader-f16', 'shaderF16'],
  ['subgroups', 'subgroups'],
  ['timestamp-query', 'timestampQuery'],
];
const LIMITS: Array<[string, keyof Capabilities['limits'], boolean]> = [
  ['Largest buffer', 'maxBufferSize', true],
  ['Largest storage binding', 'maxStorageBufferBindingSize', true],
  ['Workgroup storage', 'maxComputeWorkgroupStorageSize', true],
  ['Invocations per workgroup', 'maxComputeInvocationsPerWorkgroup', false],
  ['Workgroups per dimension', 'maxComputeWorkgroupsPerDimension', false],
];

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${+(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${+(n / 2 ** 20).toFixed(1)} MiB`;
  return `${+(n / 2 ** 10).toFixed(1)} KiB`;
}

function showCapabilities(caps: Capabilities): void {
  const { vendor, architecture, device, description } = caps.adapter;
  const name = description || [vendor, architecture, device].filter(Boolean).join(' ') || 'unnamed adapter';
  el('adapter').textContent = caps.isSoftware ? `${name} (software adapter: speed figures are not meaningful)` : name;
  el('features').replaceChildren(
    ...FEATURES.map(([label, key]) => {
      const li = document.createElement('li');
      li.dataset.feature = label;
      li.dataset.available = String(caps.features[key]);
      li.textContent = `${label}: ${caps.features[key] ? 'available' : 'not available'}`;
      return li;
    }),
  );
  el('limits').replaceChildren(
    ...LIMITS.flatMap(([label, key, bytes]) => {
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = bytes ? formatBytes(caps.limits[key]) : caps.limits[key].toLocaleString('en');
      return [dt, dd];
    }),
  );
}

async function checkGpu(): Promise<boolean> {
  try {
    // `profile` also asks for timestamp-query, so the report lists every optional feature the adapter has.
    const gpu = await requestGpu({ profile: true });
    showCapabilities(gpu.caps);
    gpu.destroy();
    el('status').textContent = 'ready';
    return true;
  } catch (e) {
    const code = e instanceof G3nError ? e.code : null;
    el('status').textContent = code === 'NO_WEBGPU' || code === 'NO_ADAPTER' ? 'no-webgpu' : 'error';
    el('adapter').textContent = 'none';
    const message = el('message');
    message.textContent = (e as Error).message;
    message.hidden = false;
    return false;
  }
}

function setUpWorker(): void {
  const button = el<HTMLButtonElement>('run-worker');
  const result = el('worker-result');
  let worker: Remote<GpuWorkerApi> | null = null;
  button.disabled = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    result.textContent = 'running…';
    try {
      worker ??= wrap<GpuWorkerApi>(new Worker(new URL('./gpu-worker.ts', import.meta.url), { type: 'module', name: 'g3n-gpu' }));
      const { out } = await worker.add(WORKER_A, WORKER_B);
      result.textContent = `[${out.join(', ')}]`;
    } catch (e) {
      result.textContent = `failed: ${(e as Error).message}`;
    } finally {
      button.disabled = false;
    }
  });
}

async function checkModel(): Promise<void> {
  const target = el('model');
  try {
    const res = await fetch(`${MODEL_URL}config.json`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const text = (await res.json()).text_config;
    const head = await fetch(`${MODEL_URL}model.safetensors`, { method: 'HEAD' });
    if (!head.ok) throw new Error(`HTTP ${head.status}`);
    const bytes = Number(head.headers.get('content-length'));
    target.textContent =
      `gemma3n-tiny-a (random weights, for tests): ${text.num_hidden_layers} layers, hidden size ${text.hidden_size}, ` +
      `vocabulary ${text.vocab_size}; model.safetensors is ${formatBytes(bytes)} at ${MODEL_URL}.`;
    target.dataset.bundled = 'true';
  } catch {
    target.textContent = 'The tiny model is not bundled in this build (its fixture folder was missing when it was built).';
    target.dataset.bundled = 'false';
  }
}

void checkModel();
if (await checkGpu()) setUpWorker();
